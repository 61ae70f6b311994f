#!/bin/sh
# Any program on the drop-in prints obmalloc's report at exit when asked,
# even one that closes stderr itself (coreutils does), and as JSON to a file.
set -eu
build=$1
"$build/obmalloc-run" --stats ls -R /usr/include 2>&1 >/dev/null | grep -q 'bytes mapped, broken down'
# --stats: the program's report only, headed with its pid and command, not
# one for each child (a script's commands inherit the environment).  bash:
# dash leaves by _exit, which runs no destructor, so it never reports.
# --stats-all: one per process.
out=$("$build/obmalloc-run" --stats bash -c '/bin/true; /bin/true; echo done' 2>&1 >/dev/null)
n=$(echo "$out" | grep -c '^obmalloc .* statistics (pid [0-9]*, ')
[ "$n" -eq 1 ] || { echo "stats_at_exit: --stats gave $n reports, not 1:"; echo "$out"; exit 1; }
echo "$out" | grep -q '^obmalloc .* statistics (pid [0-9]*, bash)$' ||
  { echo "stats_at_exit: the report does not name the command (bash):"; echo "$out"; exit 1; }
out=$("$build/obmalloc-run" --stats-all bash -c '/bin/true; /bin/true; echo done' 2>&1 >/dev/null)
n=$(echo "$out" | grep -c '^obmalloc .* statistics (pid [0-9]*, ')
[ "$n" -ge 3 ] || { echo "stats_at_exit: --stats-all gave $n reports, not one per process:"; echo "$out"; exit 1; }
echo "$out" | grep -q 'statistics (pid [0-9]*, true)$' ||
  { echo "stats_at_exit: no report names the children (true):"; echo "$out"; exit 1; }
json=$(mktemp)
trap 'rm -f "$json"' EXIT
OBMALLOC_STATS=json OBMALLOC_STATS_FILE=$json LD_PRELOAD=$build/libobmalloc.so sort /etc/services >/dev/null
python3 -m json.tool "$json" >/dev/null
echo "ok: reports at exit"
