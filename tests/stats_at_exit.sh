#!/bin/sh
# Any program on the drop-in prints obmalloc's report at exit when asked,
# even one that closes stderr itself (coreutils does), and as JSON to a file.
set -eu
build=$1
"$build/obmalloc-run" --stats ls -R /usr/include 2>&1 >/dev/null | grep -q 'bytes mapped, broken down'
json=$(mktemp)
trap 'rm -f "$json"' EXIT
OBMALLOC_STATS=json OBMALLOC_STATS_FILE=$json LD_PRELOAD=$build/libobmalloc.so sort /etc/services >/dev/null
python3 -m json.tool "$json" >/dev/null
echo "ok: reports at exit"
