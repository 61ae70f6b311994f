"""The demonstration workload: what a Python service does all day.

Builds a few hundred thousand small records (dicts, lists, strings, ints),
serialises them to JSON and back, indexes them, aggregates, pickles a part,
and throws most of it away again, in rounds.  It checks its own result, so
an allocator that corrupts memory cannot look fast.

    python3 workload.py [records]     prints "checksum <n>"
"""
import json
import pickle
import sys
import zlib


def make_records(n, round_no):
    tags = ("alpha", "beta", "gamma", "delta", "epsilon")
    return [
        {
            "id": i,
            "name": "user-%d-%d" % (round_no, i),
            "tags": [tags[(i + k) % 5] for k in range(i % 4)],
            "score": (i * 7919 + round_no) % 1000 / 10.0,
            "address": {"city": "city-%d" % (i % 97), "zip": "%05d" % (i % 99991)},
        }
        for i in range(n)
    ]


def one_round(n, round_no):
    records = make_records(n, round_no)
    text = json.dumps(records)
    parsed = json.loads(text)
    assert len(parsed) == n and parsed[n // 2]["id"] == n // 2
    by_city = {}
    for r in parsed:
        by_city.setdefault(r["address"]["city"], []).append(r)
    totals = {city: sum(r["score"] for r in rs) for city, rs in by_city.items()}
    tag_counts = {}
    for r in parsed:
        for t in r["tags"]:
            tag_counts[t] = tag_counts.get(t, 0) + 1
    blob = pickle.dumps(parsed[: n // 4])
    again = pickle.loads(blob)
    assert again[0] == parsed[0]
    words = " ".join(r["name"] for r in parsed[::7]).split()
    uniq = sorted(set(words))
    return (zlib.crc32(text.encode()) ^ len(uniq) ^ int(sum(totals.values()))
            ^ sum(tag_counts.values()))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150000
    checksum = 0
    keep = []  # a long-lived part, as a cache would be
    for round_no in range(4):
        checksum = (checksum * 31 + one_round(n, round_no)) & 0xFFFFFFFF
        keep.append(make_records(n // 20, round_no))
    print("checksum", checksum, sum(len(k) for k in keep))


if __name__ == "__main__":
    main()
