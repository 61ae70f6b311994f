#!/bin/sh
# make bench: the microbenchmark, obmalloc against the system allocator
# (glibc) in the same run, and against mimalloc, jemalloc and tcmalloc when
# their Debian packages are installed (LD_PRELOAD).  Reports the median of
# RUNS runs in ns per malloc/free pair, each also as a ratio to obmalloc,
# and instructions per pair from callgrind (repeatable on a noisy machine).
set -eu
cd "$(dirname "$0")/.."
BIN=build/ob_microbench
RUNS=${RUNS:-5}
ITERS=${ITERS:-10000000}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
libdir=/usr/lib/x86_64-linux-gnu
peers="glibc:"
for p in mimalloc:$libdir/libmimalloc.so.2 jemalloc:$libdir/libjemalloc.so.2 \
         tcmalloc:$libdir/libtcmalloc_minimal.so.4; do
  if [ -e "${p#*:}" ]; then peers="$peers $p"; else
    echo "bench: ${p%%:*} not installed (apt-get install libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4); skipped" >&2
  fi
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_one() { # allocator-name mode
  name=$1; mode=$2
  if [ "$name" = obmalloc ]; then "$BIN" ob "$mode" "$ITERS"
  else
    lib=$(echo "$peers" | tr ' ' '\n' | grep "^$name:" | cut -d: -f2)
    if [ -n "$lib" ]; then LD_PRELOAD=$lib "$BIN" sys "$mode" "$ITERS"; else "$BIN" sys "$mode" "$ITERS"; fi
  fi | awk '{print $3}'
}

names="obmalloc $(for p in $peers; do printf '%s ' "${p%%:*}"; done)"
csv="$OUT/microbench.csv"
md="$OUT/microbench.md"
echo "mode,allocator,median_ns_per_pair,ratio_to_obmalloc" > "$csv"
{
  echo "# Microbenchmark: ns per malloc/free pair (median of $RUNS runs, $ITERS pairs each)"
  echo
  echo "Machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d)."
  echo
  printf '| mode |'; for n in $names; do printf ' %s |' "$n"; done; echo
  printf '|---|'; for n in $names; do printf -- '---:|'; done; echo
} > "$md"
for mode in churn pairs xthread; do
  tmp=$(mktemp -d)
  # Interleave the allocators run by run, so that a noisy neighbour hurts
  # them all alike.
  for r in $(seq "$RUNS"); do
    echo "bench: microbenchmark, $mode mode, run $r of $RUNS ($names)" >&2
    for n in $names; do run_one "$n" "$mode" >> "$tmp/$n"; done
  done
  ob=$(median < "$tmp/obmalloc")
  printf '| %s |' "$mode" >> "$md"
  for n in $names; do
    m=$(median < "$tmp/$n")
    ratio=$(awk -v a="$m" -v b="$ob" 'BEGIN {printf "%.2f", a / b}')
    echo "$mode,$n,$m,$ratio" >> "$csv"
    printf ' %s ns (%sx) |' "$m" "$ratio" >> "$md"
  done
  echo >> "$md"
  rm -rf "$tmp"
done

# A cell far from the others has its reason here, not in a reader's guess.
cat >> "$md" <<'NOTE'

`pairs` keeps one block live at a time, sizes cycling through 16 classes,
so every free empties the page (or pool) of its class. An allocator that
acts on an empty page at once pays for that on every pair. mimalloc 2.0
(Debian's) is tens of times slower here than in `churn`; in this mode a
quarter of its samples are in `clock_gettime` and `mi_option_get` (`perf
record -e cpu-clock`). obmalloc keeps each class's current pool when it
empties (OB_USED_KEEP, docs/DESIGN.md), so its pairs stay on the fast
path.
NOTE

# Instructions per pair: callgrind at two iteration counts, differenced, so
# start-up cost cancels out.
if command -v valgrind >/dev/null 2>&1; then
  {
    echo
    echo "Instructions per malloc/free pair (callgrind, pairs mode, including ~13 of loop):"
    echo
  } >> "$md"
  echo "bench: instructions per pair under callgrind ($names obmalloc-dropin)" >&2
  for n in $names obmalloc-dropin; do
    count() {
      f=$(mktemp)
      if [ "$n" = obmalloc ]; then
        OBMALLOC_VALGRIND=0 valgrind --tool=callgrind --callgrind-out-file="$f" "$BIN" ob pairs "$1" >/dev/null 2>&1
      elif [ "$n" = obmalloc-dropin ]; then
        # malloc and free through the C library's names (issue 11's measure)
        OBMALLOC_VALGRIND=0 LD_PRELOAD=build/libobmalloc.so valgrind --tool=callgrind \
          --callgrind-out-file="$f" "$BIN" sys pairs "$1" >/dev/null 2>&1
      else
        lib=$(echo "$peers" | tr ' ' '\n' | grep "^$n:" | cut -d: -f2)
        LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file="$f" \
          "$BIN" sys pairs "$1" >/dev/null 2>&1
      fi
      grep '^summary:' "$f" | awk '{print $2}'
      rm -f "$f"
    }
    a=$(count 100000); b=$(count 200000)
    echo "- $n: $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.1f", (b - a) / 100000}')" >> "$md"
  done
fi
cat "$md"
