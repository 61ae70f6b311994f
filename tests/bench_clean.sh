#!/bin/sh
# make bench leaves the checkout as it found it: its results go to
# build/bench-results/, not over the committed ones (bench/results/).  A
# small run (one pass, one workload) of the real target.
#   bench_clean.sh <source dir>
set -eu
cd "$1"
git rev-parse --git-dir >/dev/null 2>&1 || { echo "bench_clean: not a git checkout; nothing to check"; exit 0; }
before=$(git status --porcelain)
RUNS=1 ITERS=20000 make --no-print-directory bench \
  BENCH_ARGS="--quick --workloads bignum --allocators obmalloc --pyperformance none" > /dev/null
after=$(git status --porcelain)
if [ "$before" != "$after" ]; then
  echo "bench_clean: make bench changed the checkout:"
  echo "$after"
  exit 1
fi
ls build/bench-results/microbench.md build/bench-results/suite.md >/dev/null
echo "bench_clean: ok, results in build/bench-results/"
