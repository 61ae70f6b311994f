#!/bin/sh
# The C library's introspection calls on the drop-in: runs dropin_mallinfo
# (mallinfo2, mallinfo, mallopt, malloc_stats), then parses the XML its
# malloc_info wrote and checks it against the mallinfo2 figures it printed.
#   dropin_mallinfo.sh <dropin_mallinfo> <libobmalloc.so>
set -eu
prog=$1 lib=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
LD_PRELOAD=$lib "$prog" "$work/info.xml" "$work/stats.txt" > "$work/out.txt"
cat "$work/out.txt"
command -v python3 > /dev/null || { echo "python3 is needed to parse the XML (apt-get install python3)"; exit 1; }
python3 - "$work/info.xml" "$work/out.txt" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()  # raises if it is not XML
figures = dict(kv.split("=") for kv in open(sys.argv[2]).read().split()
               if kv.startswith(("fordblks=", "ordblks=", "arena=")))
figures = {k: int(v) for k, v in figures.items()}
assert root.tag == "malloc" and root.get("version") == "1", root.tag
heaps = root.findall("heap")
assert len(heaps) == 1 and heaps[0].get("nr") == "0"
sizes = heaps[0].find("sizes").findall("size")
assert sizes, "no <size> element: the freed blocks should be there"
prev_to = 0
counted = 0
for s in sizes:
    a, b, total, count = (int(s.get(k)) for k in ("from", "to", "total", "count"))
    assert prev_to < a <= b and total == count * b, s.attrib
    prev_to = b
    counted += count
totals = {t.get("type"): t for t in root.findall("total")}
assert set(totals) == {"fast", "rest", "mmap"}, totals
rest = totals["rest"]
assert int(rest.get("size")) == figures["fordblks"], (rest.attrib, figures)
assert int(rest.get("count")) == figures["ordblks"] >= counted
system = {t.get("type"): int(t.get("size")) for t in root.findall("system")}
assert system["current"] == figures["arena"] <= system["max"], system
print("malloc_info: well-formed, %d size ranges, %d free blocks" % (len(sizes), counted))
PY
echo "dropin_mallinfo: ok"
