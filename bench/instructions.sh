#!/bin/sh
# Instructions per malloc/free pair through the drop-in (callgrind; the
# difference of two runs of build/ob_microbench, so start-up cancels out),
# for each NAME=LIB given, in the microbenchmark's modes (pairs, churn).
# Repeatable to the instruction on any machine, unlike timings.
#
#   bench/instructions.sh hardened=build/libobmalloc.so unhardened=...so
set -eu
cd "$(dirname "$0")/.."
BIN=build/ob_microbench
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
count() { # lib mode iterations
  f=$(mktemp)
  OBMALLOC_VALGRIND=0 LD_PRELOAD="$1" valgrind --tool=callgrind --callgrind-out-file="$f" \
    "$BIN" sys "$2" "$3" >/dev/null 2>&1
  grep '^summary:' "$f" | awk '{print $2}'
  rm -f "$f"
}
echo "| build | pairs | churn |"
echo "|---|---:|---:|"
for spec in "$@"; do
  name=${spec%%=*}; lib=${spec#*=}
  row="| $name"
  for mode in pairs churn; do
    a=$(count "$lib" "$mode" 100000); b=$(count "$lib" "$mode" 200000)
    row="$row | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 100000}')"
  done
  echo "$row |"
done
