"""The cyclic garbage collector walking a big heap: how an allocator's
placement of objects helps or hurts a pointer-chasing walk over memory
that does not fit in any cache.

    python3 gcwalk.py [records] [collections]

Builds two heaps of `records` records each (default 300 000) and times
`collections` (default 5) full gc.collect() calls over them, nothing else:

  records  JSON-like records (dicts, lists, strings, ints, floats), as a
           service holds them, round-tripped through json so that the
           heap is laid out as a parser leaves it
  objects  class instances, tuples and sets, with holes punched in the
           middle (a third of the instances dropped and replaced), so
           that the walk crosses reused memory

Prints "result gc-walk <seconds of collection> <check>".
"""
import gc
import json
import sys
import time


def records(n):
    data = [{"id": i, "name": "user-%d" % i, "score": i * 0.5,
             "tags": ["t%d" % (i % 7), "x"], "where": {"city": "c%d" % (i % 97), "zip": i % 99991}}
            for i in range(n)]
    return json.loads(json.dumps(data))


class Item:
    def __init__(self, i):
        self.key = i
        self.pair = (i, str(i))
        self.seen = {i, i + 1}


def objects(n):
    items = [Item(i) for i in range(n)]
    # Holes: drop every third instance, then allocate replacements, which
    # land in the memory the dropped ones left.
    for i in range(0, n, 3):
        items[i] = None
    for i in range(0, n, 3):
        items[i] = Item(n + i)
    return items


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    gc.disable()
    heap = [records(n), objects(n)]
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(rounds):
        gc.collect()
    elapsed = time.perf_counter() - t0
    check = len(heap[0]) + sum(it.key for it in heap[1][::1000]) + len(gc.get_objects()) // 1000
    print("result gc-walk %.3f %d" % (elapsed, check))


if __name__ == "__main__":
    main()
