"""Free-threaded CPython workloads (issue 27): build/obpython-ft against
build/python-ft, the stock free-threaded build on its own mimalloc.

    python pyft.py <shape> <threads> [scale]

Shapes:
  records  each of `threads` threads builds `scale` thousand JSON-like
           records, round-trips them through json, groups and sorts them
           (pyshapes.py's records, in threads: every thread's heap busy)
  shared   threads share dicts and lists: each replaces slots of its own,
           so the old values die while other threads read them (the
           free-threaded build's lock-free reads touch memory another
           thread has just freed); `scale` thousand rounds of one write
           and eight reads per thread
  gcexit   `threads` threads build a big heap of records and cycles; half
           of them exit before the collections, half stay alive, blocked;
           the main thread then times five full gc.collect() calls (the
           walk over live heaps and over the memory exited threads left)

Each prints "result pyft-<shape> <seconds> <check>", the check a value
that must be the same under every interpreter.  gcexit's seconds are the
collections only; the others' the whole run.
"""
import gc
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyshapes  # noqa: E402


def in_threads(n, fn):
    results = [None] * n

    def run(i):
        results[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def records(threads, scale):
    checks = in_threads(threads, lambda i: pyshapes.records(scale))
    return sum(checks) % 1000000007


def shared(threads, scale):
    # Each thread owns one dict and one list, which only it writes, and
    # reads everyone's: the writes take no contended lock (with one
    # shared dict and list, the run measured its lock's spinning, 2.4
    # million sched_yield calls), while the reads are the free-threaded
    # build's lock-free ones (subscripts: 3.13's dict.get locks the
    # dict), on values another thread may be freeing.
    slots = 4096
    tables = [{k: (k, str(k), [k]) for k in range(slots)} for _ in range(threads)]
    rows = [[(k, [k, k]) for k in range(slots)] for _ in range(threads)]
    rounds = scale * 1000
    start = threading.Barrier(threads)

    def work(me):
        # Locals, not the enclosing function's cells: 3.13 reads a cell
        # under its lock, and every thread reading the same cells made the
        # run a test of that lock.
        all_tables, all_rows, n, size = tables, rows, threads, slots
        table, row = all_tables[me], all_rows[me]
        start.wait()
        seen = 0
        for r in range(rounds):
            # Replace one slot of this thread's own: the old tuple and list
            # die here while other threads may be reading them.
            k = (r * 7) % size
            table[k] = (k, str(r), [k, r])
            row[k] = (k, [r, k])
            # Read eight slots of the other threads' (and one's own).
            for i in range(8):
                j = (r * 8 + i * 7919) % size
                other = (me + 1 + i) % n
                seen += (all_tables[other][j][0] == j) + (all_rows[other][j][0] == j)
        return seen

    seen = sum(in_threads(threads, work))
    assert seen == 16 * threads * rounds, seen
    # The final state: each slot's last write.
    return (seen + sum(v[2][-1] for t in tables for v in t.values())
            + sum(len(r) for r in rows)) % 1000000007


class Node:
    __slots__ = ("peer", "payload", "__weakref__")


def gcexit(threads, scale):
    gc.disable()
    keep = []
    lock = threading.Lock()
    release = threading.Event()
    built = threading.Barrier(threads // 2 + 1)

    def build(i):
        heap = [pyshapes.make_record(i * 100000 + j) for j in range(scale * 1000)]
        for j in range(scale * 500):  # cycles the collector must find
            a, b = Node(), Node()
            a.peer, b.peer = b, a
            a.payload = heap[j]
        with lock:
            keep.append(heap)
        if i % 2:  # stays alive, blocked, until the collections are done
            built.wait()
            release.wait()

    workers = [threading.Thread(target=build, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers[0::2]:
        t.join()  # half the builders have exited
    built.wait()  # the other half have built and are waiting
    t0 = time.perf_counter()
    found = gc.collect()
    for _ in range(4):
        found += gc.collect()
    elapsed = time.perf_counter() - t0
    release.set()
    for t in workers[1::2]:
        t.join()
    return elapsed, found + sum(len(h) for h in keep)


def main():
    shape, threads = sys.argv[1], int(sys.argv[2])
    scale = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    t0 = time.perf_counter()
    if shape == "gcexit":
        elapsed, check = gcexit(threads, scale)
    else:
        check = {"records": records, "shared": shared}[shape](threads, scale)
        elapsed = time.perf_counter() - t0
    print("result pyft-%s %.3f %s" % (shape, elapsed, check))


if __name__ == "__main__":
    main()
