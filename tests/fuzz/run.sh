#!/bin/sh
# Runs the fuzzer for a while, from the committed seeds and regression
# inputs, in a corpus of its own (never the source tree).
#   run.sh <fuzz_ops> <tests/fuzz> <work dir> <seconds> [libFuzzer flags...]
# Any crash stops it; its input is left in the work dir (crash-*): fix the
# bug, then add the input to tests/fuzz/regressions.
set -eu
fuzz=$1 src=$2 work=$3 seconds=$4
shift 4
mkdir -p "$work/corpus"
cp "$src"/seeds/* "$work/corpus/"
regressions=""
[ -d "$src/regressions" ] && regressions="$src/regressions"
# Each regression input first, once.
[ -n "$regressions" ] && "$fuzz" -runs=0 $regressions
exec "$fuzz" -max_total_time="$seconds" -max_len=4096 -len_control=0 -timeout=60 \
  -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus"
