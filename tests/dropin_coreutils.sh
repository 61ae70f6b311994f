#!/bin/sh
# Everyday programs on obmalloc: each pipeline runs on glibc and then with
# obmalloc preloaded into every process, and the outputs must match.
set -eu
lib=$1
LD_PRELOAD=$lib sh -c 'grep -q libobmalloc /proc/self/maps' || {
  echo "dropin_coreutils: obmalloc was not preloaded" >&2; exit 1; }
work=$(mktemp -d)
export work
trap 'rm -rf "$work"' EXIT
seq 1 50000 | awk '{ printf "%s line-%d %x\n", $1 % 977, $1, $1 * 7919 }' > "$work/data"
pipelines='
sort -R "$work/data" | sort -n | uniq -c | sort -k2 | md5sum
tr a-z A-Z < "$work/data" | sed "s/LINE/row/" | awk "{ s += \$1 } END { print s }"
sort -k3 "$work/data" | cut -d" " -f2 | grep -c 7
tar -C "$work" -cf - data | tar -tvf - | wc -l
find /usr/include -name "*.h" | sort | head -2000 | xargs cat 2>/dev/null | wc -c
ls -laR /usr/share/doc | wc -l
'
echo "$pipelines" | while IFS= read -r p; do
  [ -n "$p" ] || continue
  expect=$(sh -c "$p" 2>&1)
  got=$(LD_PRELOAD=$lib sh -c "$p" 2>&1)
  if [ "$expect" != "$got" ]; then
    echo "dropin_coreutils: differs on obmalloc: $p" >&2
    echo "  glibc:    $expect" >&2
    echo "  obmalloc: $got" >&2
    exit 1
  fi
  echo "ok: $p"
done
