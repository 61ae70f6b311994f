#!/bin/sh
# obpython in debug mode catches a heap overflow made through ctypes (a
# buffer of 40 bytes, written 48) when the buffer is freed, with a report
# that names it.
#   obpython_overflow.sh <obpython>
set -u
ob=$1
err=$(mktemp)
OBMALLOC_DEBUG=1 "$ob" -c '
import ctypes
buf = ctypes.create_string_buffer(40)   # 40 bytes from PyMem_Malloc
ctypes.memset(buf, 0x41, 48)             # 8 past its end
del buf                                  # the free finds the guard changed
print("not caught")
' 2> "$err"
rc=$?
first=$(head -n 1 "$err")
ok=1
[ $rc = 134 ] || { echo "obpython_overflow: exit code $rc, not 134 (SIGABRT)" >&2; ok=0; }
case $first in
  "obmalloc: buffer overflow at address 0x"*) ;;
  *) echo "obpython_overflow: first line of the report: $first" >&2; ok=0 ;;
esac
grep -q "guard byte 0 past its end is 0x41" "$err" || { echo "obpython_overflow: no guard detail" >&2; ok=0; }
grep -q "of 40 bytes" "$err" || { echo "obpython_overflow: no block size" >&2; ok=0; }
[ $ok = 1 ] || cat "$err" >&2
rm -f "$err"
[ $ok = 1 ] && echo "obpython_overflow: caught and named"
[ $ok = 1 ]
