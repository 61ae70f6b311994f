#!/bin/sh
# Memcheck finds bugs in blocks obmalloc hands out, through the ob_* API
# and through the drop-in: obmalloc describes its blocks with valgrind's
# client requests (src/debug.c).
#   valgrind_memcheck.sh <client built on ob_*> <client on libc names> <libobmalloc.so>
set -u
ob=$1 libc=$2 lib=$3
fail=0
expect() { # file text
  if ! grep -q -- "$2" "$1"; then
    echo "valgrind_memcheck: memcheck did not report \"$2\":" >&2
    cat "$1" >&2
    fail=1
  fi
}
check() { # name file
  expect "$2" "Invalid write of size 1"
  expect "$2" "0 bytes after a block of size 24 alloc'd"
  expect "$2" "Invalid read of size 1"
  expect "$2" "inside a block of size 24 free'd"
  expect "$2" "Conditional jump or move depends on uninitialised value"
  expect "$2" "definitely lost: 100 bytes in 1 blocks"
  expect "$2" "^done"
}
out=$(mktemp -d)
valgrind --leak-check=full "$ob" > "$out/ob" 2>&1
check ob "$out/ob"
# Memcheck puts its own malloc in the place of any other unless told not
# to: nouserintercepts leaves the preloaded obmalloc's in place.
LD_PRELOAD=$lib valgrind --soname-synonyms=somalloc=nouserintercepts --leak-check=full \
  "$libc" > "$out/libc" 2>&1
check libc "$out/libc"
# The blocks were obmalloc's, not valgrind's own malloc's.
expect "$out/libc" "alloc'd\$"
expect "$out/libc" "(in .*libobmalloc"
# The same with CPython's layout, small blocks 48 bytes into their pools.
LD_PRELOAD=$lib PYTHONMALLOC=malloc valgrind --soname-synonyms=somalloc=nouserintercepts \
  --leak-check=full "$libc" > "$out/offset" 2>&1
check offset "$out/offset"
rm -rf "$out"
[ $fail = 0 ] && echo "valgrind_memcheck: memcheck found all four bugs, through ob_* and the drop-in (block offsets 0 and 48)"
exit $fail
