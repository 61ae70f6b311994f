#!/bin/sh
# CPython out of address space (ulimit -v) on obmalloc: every failed
# allocation becomes a MemoryError, and once the program lets go of its
# memory it carries on (issue 14).  Big buffers first (huge blocks), then
# small objects (arenas) until each runs out.
#   python_memoryerror.sh dropin <python3> <libobmalloc.so>
#   python_memoryerror.sh obpython <obpython>
set -u
mode=$1
script='
import json
def exhaust(make):
    held = []
    try:
        while True:
            held.append(make())
    except MemoryError:
        pass
    return len(held)
big = exhaust(lambda: bytearray(8 << 20))          # huge blocks
small = exhaust(lambda: [0] * 100)                  # 856-byte blocks in arenas
tiny = exhaust(lambda: (1, 2))                       # 56-byte blocks
assert big > 4 and small > 1000 and tiny > 1000, (big, small, tiny)
data = [{"k": i, "v": str(i)} for i in range(100000)] # and on it goes
assert len(json.loads(json.dumps(data))) == 100000
print("memoryerror: %d big, %d small, %d tiny before MemoryError; recovered" % (big, small, tiny))
'
# The limit leaves the interpreter room to start and a few hundred MB to fill.
limit=350000 # KiB
case $mode in
  dropin)
    out=$(ulimit -v $limit; PYTHONMALLOC=malloc LD_PRELOAD=$3 "$2" -c "$script" 2>&1) ;;
  obpython)
    out=$(ulimit -v $limit; "$2" -c "$script" 2>&1) ;;
  *) echo "python_memoryerror: unknown mode $mode" >&2; exit 2 ;;
esac
rc=$?
echo "$out" | tail -n 5
[ $rc = 0 ] && echo "$out" | grep -q "recovered"
