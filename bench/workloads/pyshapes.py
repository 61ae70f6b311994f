"""Python workloads of different shapes, for comparing CPython's allocators
(obpython against python3 with pymalloc, and the drop-ins).

    python3 pyshapes.py <shape> [scale]

Shapes:
  churn    object churn: short-lived tuples, lists, dicts and small ints
  json     JSON encode and decode of nested records
  strings  string building: joins, f-strings, slicing, split and replace
  classes  a class-heavy program: instances with and without __slots__,
           dataclasses, method calls, small graphs of objects
  bigheap  a long-running program with a big live heap (a million
           objects) that keeps replacing part of it, with the cyclic GC
           at work
  records  build `scale` thousand JSON-like records, round-trip them
           through json, group and sort them (one pass: the heap size is
           the parameter)

Each prints "result pyshapes-<shape> <seconds> <check>", where the check
is a value that must be the same under every allocator.
"""
import dataclasses
import json
import sys
import time
import zlib


def churn(scale):
    total = 0
    for i in range(scale * 100000):
        t = (i, i + 1, str(i))
        l = [t, t, [i] * 3]
        d = {"a": l, "b": t, i & 63: i}
        total += len(d) + len(l[2]) + len(t[2])
    return total


def make_record(i):
    return {"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 7), "x"],
            "price": i * 0.25, "nested": {"ok": i % 2 == 0, "list": list(range(i % 10))}}


def json_shape(scale):
    check = 0
    records = [make_record(i) for i in range(2000)]
    for r in range(scale * 6):
        text = json.dumps(records)
        back = json.loads(text)
        check = zlib.crc32(text.encode(), check) ^ len(back)
    return check


def strings(scale):
    check = 0
    for r in range(scale * 30):
        parts = []
        for i in range(3000):
            parts.append(f"{i}:{i * 7 % 13}-{'x' * (i % 9)}")
        s = ",".join(parts)
        words = s.replace("-", " ").split(",")
        upper = [w.upper()[1:-1] for w in words if w]
        joined = "|".join(upper[::2])
        check = zlib.crc32(joined.encode(), check)
    return check


class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def add(self, o):
        return Vec(self.x + o.x, self.y + o.y)

    def norm1(self):
        return abs(self.x) + abs(self.y)


class Slotted:
    __slots__ = ("a", "b", "c")

    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c


@dataclasses.dataclass
class Node:
    value: int
    children: list = dataclasses.field(default_factory=list)


def classes(scale):
    check = 0
    for r in range(scale * 4):
        acc = Vec(0, 0)
        for i in range(20000):
            acc = acc.add(Vec(i % 17 - 8, i % 5 - 2))
        slots = [Slotted(i, str(i), (i,)) for i in range(20000)]
        root = Node(0)
        level = [root]
        for depth in range(4):
            nxt = []
            for n in level:
                for k in range(8):
                    c = Node(n.value * 8 + k)
                    n.children.append(c)
                    nxt.append(c)
            level = nxt
        check += acc.norm1() + sum(s.a for s in slots[::100]) + len(level)
    return check


def bigheap(scale):
    heap = {i: (str(i), [i, i * 2], {"v": i}) for i in range(400000)}
    check = 0
    for r in range(scale * 4):
        # Replace a tenth of the heap, in a different place each round.
        start = (r * 40000) % 400000
        for i in range(start, start + 40000):
            heap[i] = (str(i + r), [i, r], {"v": i, "r": r})
        # Some cycles for the collector.
        cyc = []
        for i in range(5000):
            a = [i]
            a.append(a)
            cyc.append(a)
        del cyc
        check = (check + sum(heap[i][1][1] for i in range(0, 400000, 997))) % 1000000007
    return check + len(heap)


def records(scale):
    """A service's day in one go, at a heap size of `scale` thousand
    records: build JSON-like records, round-trip them through json, then
    group and sort them (the gap between allocators grew with this size
    before the block offset, issue 11)."""
    n = scale * 1000
    data = [{"id": i, "name": "user-%d" % i, "score": (i * 7919) % 1000 / 10.0,
             "tags": ["t%d" % (i % 7), "u%d" % (i % 13)][: 1 + i % 2],
             "where": {"city": "city-%d" % (i % 97), "zip": "%05d" % (i % 99991)}}
            for i in range(n)]
    back = json.loads(json.dumps(data))
    del data
    groups = {}
    for r in back:
        groups.setdefault(r["where"]["city"], []).append(r)
    check = 0
    for city in sorted(groups):
        rows = sorted(groups[city], key=lambda r: (-r["score"], r["name"]))
        check = (check * 31 + rows[0]["id"] + len(rows)) % 1000000007
    return check


SHAPES = {"churn": churn, "json": json_shape, "strings": strings,
          "classes": classes, "bigheap": bigheap, "records": records}


def main():
    shape = sys.argv[1]
    scale = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    t0 = time.perf_counter()
    check = SHAPES[shape](scale)
    print("result pyshapes-%s %.3f %s" % (shape, time.perf_counter() - t0, check))


if __name__ == "__main__":
    main()
