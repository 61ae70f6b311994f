#!/bin/sh
# The heap profiler against the truth, read by the tools users have:
# prof_sites (tests/prof_sites.c) runs on the drop-in with OBMALLOC_PROF=1
# at the default rate; google-pprof --text must give each site its share of
# the bytes allocated within 10 %, and find the leak by name; --svg must
# draw the graph; the folded files must agree.
#   prof_pprof.sh <prof_sites> <libobmalloc.so>
set -eu
prog=$1 lib=$2
command -v google-pprof > /dev/null ||
  { echo "prof_pprof: google-pprof is needed (apt-get install google-perftools)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
OBMALLOC_PROF=1 OBMALLOC_PROF_FILE="$work/sites.%p.heap" LD_PRELOAD=$lib "$prog" 2> "$work/stderr"
heap=$(ls "$work"/sites.*.heap)
# At exit it says where the profile is; prof_sites leaks, so some samples
# are live and there is no hint about --alloc_space.
grep -q "^obmalloc: heap profile in $heap ([0-9]* samples, [1-9][0-9]* of them live at exit)" "$work/stderr" ||
  { echo "no line at exit naming the profile:"; cat "$work/stderr"; exit 1; }
! grep -q "alloc_space" "$work/stderr" || { echo "an --alloc_space hint with live samples"; exit 1; }
# A program that frees everything before it exits: nothing is live, and the
# line at exit says how to see what was allocated.
OBMALLOC_PROF=1 OBMALLOC_PROF_FILE="$work/free-all.heap" LD_PRELOAD=$lib "$prog" free-all \
  2> "$work/stderr2"
grep -q "nothing sampled is live at exit: google-pprof --text --alloc_space $work/free-all.heap" "$work/stderr2" ||
  { echo "no --alloc_space hint for a profile with nothing live:"; cat "$work/stderr2"; exit 1; }
google-pprof --text --alloc_space "$heap" > "$work/alloc.txt" 2>/dev/null
google-pprof --text --inuse_space "$heap" > "$work/inuse.txt" 2>/dev/null
echo "--- alloc_space"; head -8 "$work/alloc.txt"
echo "--- inuse_space"; head -6 "$work/inuse.txt"
# "flat flat% sum% cum cum% name": the flat MB of a function.
flat() { awk -v f="$2" '$6 == f { print $1 }' "$1"; }
one=$(flat "$work/alloc.txt" one_share)
three=$(flat "$work/alloc.txt" three_shares)
leak=$(flat "$work/inuse.txt" leak_128mib)
top=$(awk 'NR == 2 { print $6 }' "$work/inuse.txt")
echo "one_share ${one} MB (truth 1024), three_shares ${three} MB (truth 3072), leak ${leak} MB (truth 128), top in use: $top"
awk -v one="$one" -v three="$three" -v leak="$leak" 'BEGIN {
  ok = 1
  share1 = one / (one + three); share3 = three / (one + three)
  if (share1 < 0.25 * 0.9 || share1 > 0.25 * 1.1) { print "one_share: share " share1 ", truth 0.25"; ok = 0 }
  if (share3 < 0.75 * 0.9 || share3 > 0.75 * 1.1) { print "three_shares: share " share3 ", truth 0.75"; ok = 0 }
  if (one < 1024 * 0.9 || one > 1024 * 1.1) { print "one_share: " one " MB, truth 1024"; ok = 0 }
  if (three < 3072 * 0.9 || three > 3072 * 1.1) { print "three_shares: " three " MB, truth 3072"; ok = 0 }
  # 256 samples of the leak: 4.8 standard deviations either side.
  if (leak < 128 * 0.7 || leak > 128 * 1.3) { print "leak_128mib: " leak " MB, truth 128"; ok = 0 }
  exit !ok }'
[ "$top" = leak_128mib ] || { echo "the leak is not the top site in use"; exit 1; }
# The call graph, drawn.
if command -v dot > /dev/null; then
  google-pprof --svg --inuse_space "$heap" > "$work/graph.svg" 2>/dev/null
  grep -q '<svg' "$work/graph.svg" && grep -q leak_128mib "$work/graph.svg" ||
    { echo "google-pprof --svg drew no graph"; exit 1; }
fi
# jeprof (libjemalloc-dev) reads the same format, where it is installed.
if command -v jeprof > /dev/null; then
  jeprof --text --inuse_space "$heap" 2>/dev/null | awk 'NR == 2 { print $6 }' |
    grep -qx leak_128mib || { echo "jeprof does not find the leak"; exit 1; }
  echo "jeprof: the leak is the top site in use"
fi
# The folded stacks name the same sites with the same estimates.
folded_mb() { awk -v f="$2" '{ n = split($1, fr, ";"); if (fr[n] == f) s += $2 } END { printf "%.1f", s / 1048576 }' "$1"; }
f_one=$(folded_mb "$heap.alloc.folded" one_share)
f_leak=$(folded_mb "$heap.inuse.folded" leak_128mib)
echo "folded: one_share $f_one MB allocated, leak_128mib $f_leak MB in use"
grep -q '^.*main;leak_128mib ' "$heap.inuse.folded" || { echo "folded: no main;leak_128mib stack"; exit 1; }
awk -v a="$f_one" -v b="$one" -v c="$f_leak" -v d="$leak" 'BEGIN {
  exit !(a > b * 0.97 && a < b * 1.03 && c > d * 0.97 && c < d * 1.03) }' ||
  { echo "folded estimates disagree with pprof's"; exit 1; }
# The profile names its own frames (pprof's symbol section), so pprof reads
# it without the program; OBMALLOC_PROF_SYMBOLS=0 writes addresses only,
# for pprof to name from the program.
head -1 "$heap" | grep -qx -- '--- symbol' || { echo "the profile has no symbol section"; exit 1; }
grep -qx "binary=$(readlink -f "$prog")" "$heap" || { echo "the symbol section names no binary"; exit 1; }
OBMALLOC_PROF=1 OBMALLOC_PROF_SYMBOLS=0 OBMALLOC_PROF_FILE="$work/raw.heap" LD_PRELOAD=$lib "$prog" free-all \
  > /dev/null 2>&1
head -1 "$work/raw.heap" | grep -q '^heap profile:' || { echo "OBMALLOC_PROF_SYMBOLS=0 kept the section"; exit 1; }
google-pprof --text --alloc_space "$prog" "$work/raw.heap" 2>/dev/null | grep -q ' one_share$' ||
  { echo "pprof names nothing in the raw profile"; exit 1; }
# libc's static functions, from its debug file found by build ID (valgrind
# needs libc6-dbg, so it is there wherever these tests run).
libc=$(awk '$6 ~ /\/libc\.so/ { print $6; exit }' "$heap")
id=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID/ { print $3 }')
if [ -n "$id" ] && [ -f "/usr/lib/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug" ]; then
  grep -q ' __libc_start_call_main$' "$heap" ||
    { echo "libc's debug file is there, but its static __libc_start_call_main is not named"; exit 1; }
  echo "libc's static functions named from its debug file"
fi
# A stripped program: with its debug file beside it (.gnu_debuglink), the
# names are back; with none, or with a debug file of another build, its
# frames are object+offset and the line at exit says so: never a wrong
# name.
mkdir "$work/bin" "$work/bin/.debug"
cp "$prog" "$work/bin/prof_sites"
objcopy --only-keep-debug "$work/bin/prof_sites" "$work/bin/.debug/prof_sites.debug"
strip --strip-all "$work/bin/prof_sites"
objcopy --add-gnu-debuglink="$work/bin/.debug/prof_sites.debug" "$work/bin/prof_sites"
! readelf -S "$work/bin/prof_sites" | grep -q '\.symtab' || { echo "strip left .symtab"; exit 1; }
stripped_run() { # <name>: the profile of the stripped program, read by pprof
  OBMALLOC_PROF=1 OBMALLOC_PROF_FILE="$work/$1.heap" LD_PRELOAD=$lib "$work/bin/prof_sites" free-all \
    > /dev/null 2> "$work/$1.stderr"
  google-pprof --text --alloc_space "$work/$1.heap" 2>/dev/null > "$work/$1.txt"
}
stripped_run debuglink
grep -q ' one_share$' "$work/debuglink.txt" ||
  { echo "stripped, with its debug file: one_share not named"; cat "$work/debuglink.txt"; exit 1; }
! grep -q "prof_sites is stripped\|prof_sites has no symbols" "$work/debuglink.stderr" ||
  { echo "a line about missing symbols, with the debug file there"; exit 1; }
rm "$work/bin/.debug/prof_sites.debug"
stripped_run nodebug
! grep -q ' one_share$' "$work/nodebug.txt" || { echo "stripped, no debug file, yet one_share"; exit 1; }
grep -q ' prof_sites+0x' "$work/nodebug.txt" || { echo "no object+offset frames"; cat "$work/nodebug.txt"; exit 1; }
grep -q "^obmalloc: $work/bin/prof_sites \(is stripped\|has no symbols\)" "$work/nodebug.stderr" ||
  { echo "no line at exit about the missing symbols:"; cat "$work/nodebug.stderr"; exit 1; }
# A debug file of another build, under the name the link asks for: its
# build ID differs, so it is not used (it would put one_share elsewhere).
printf 'static volatile int s; void pad(void) { s = 1; s = 2; s = 3; }\nvoid one_share(void) { s = 4; }\nvoid three_shares(void) { s = 5; }\nint main(void) { one_share(); return 0; }\n' > "$work/other.c"
cc -g -o "$work/other" "$work/other.c"
objcopy --only-keep-debug "$work/other" "$work/bin/.debug/prof_sites.debug"
stripped_run foreign
! grep -q ' one_share$\| three_shares$\| pad$' "$work/foreign.txt" ||
  { echo "names taken from another build's debug file:"; cat "$work/foreign.txt"; exit 1; }
grep -q "prof_sites \(is stripped\|has no symbols\)" "$work/foreign.stderr" ||
  { echo "no line about the missing symbols with a foreign debug file"; exit 1; }
echo "stripped program: named from its debug file; without one (or with another build's), object+offset and a line that says so"
# The README's first example, on CPython (the system's python3 on the
# drop-in): the profile written at exit, read by bytes allocated, names
# sites and accounts for the memory.
py=/usr/bin/python3
if [ -x "$py" ]; then
  OBMALLOC_PROF=1 OBMALLOC_PROF_FILE="$work/python.%p.heap" PYTHONMALLOC=malloc LD_PRELOAD=$lib \
    "$py" -c 'import json; d = [{"k": str(i), "v": [i] * 8} for i in range(100000)]; s = json.dumps(d); del d' \
    2> "$work/py.stderr"
  pyheap=$(ls "$work"/python.*.heap | head -1)
  google-pprof --text --alloc_space "$pyheap" > "$work/py.txt" 2>/dev/null
  head -4 "$work/py.txt"
  total=$(awk '/^Total:/ { print $2 }' "$work/py.txt")
  sites=$(awk 'NR > 1 && $1 + 0 > 0' "$work/py.txt" | wc -l)
  awk -v t="${total:-0}" 'BEGIN { exit !(t >= 8) }' ||
    { echo "CPython's profile accounts for ${total:-no} MB allocated, not the 8 MB and more it made"; exit 1; }
  [ "$sites" -ge 1 ] || { echo "CPython's profile names no site"; exit 1; }
  # Debian's python3 is stripped: with python3-dbg's debug file its static
  # functions are named; without, its frames outside exported functions are
  # object+offset, and the line at exit says where the debug file would be.
  exe=$(readlink -f "$py")
  pyid=$(readelf -n "$exe" 2>/dev/null | awk '/Build ID/ { print $3 }')
  if readelf -S "$exe" | grep -q '\.symtab'; then
    echo "$exe has its symbol table"
  elif [ -n "$pyid" ] && [ -f "/usr/lib/debug/.build-id/$(echo "$pyid" | cut -c1-2)/$(echo "$pyid" | cut -c3-).debug" ]; then
    grep -q "list_resize\|insert_to_emptydict\|long_to_decimal_string\|dictresize" "$work/py.txt" ||
      { echo "python3's debug file is there, but its static functions are not named"; exit 1; }
    echo "$exe named from its debug file"
  else
    grep -q "^obmalloc: $exe is stripped: .*/usr/lib/debug/.build-id/" "$work/py.stderr" ||
      { echo "no line about python3's missing symbols:"; cat "$work/py.stderr"; exit 1; }
    grep -q " $(basename "$exe")+0x" "$work/py.txt" || { echo "no object+offset frames for python3"; exit 1; }
    echo "$exe is stripped and has no debug file: object+offset, and the line at exit says so"
  fi
  grep -q "^obmalloc: heap profile in $pyheap" "$work/py.stderr" ||
    { echo "no line at exit for CPython's profile:"; cat "$work/py.stderr"; exit 1; }
fi
echo "prof_pprof: ok"
