#!/bin/sh
# Free-threaded CPython on obmalloc (build/obpython-ft, issue 27): a cycle
# made by threads that have exited is collected, every thread's objects
# are found by the collector's walk (gc.get_objects), and a slice of
# CPython's own regression tests passes.
#   obpython_ft.sh <build dir>
set -eu
py=$1/obpython-ft
if [ ! -x "$py" ]; then
  echo "obpython_ft: $py not built (make obpython-ft; it needs CPython 3.13.5's source tarball, CPYTHON_TARBALL): skipped"
  exit 77
fi
"$py" - <<'PY'
import gc, sys, threading, weakref
assert not sys._is_gil_enabled(), "not free-threaded"
gc.disable()  # only the explicit collection below

class Node:
    pass

# Cycles made by threads that exit before the collection: their memory is
# left behind, and the collector must still walk it.
refs = []
def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
threads = [threading.Thread(target=make_cycles, args=(500,)) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert all(r() is not None for r in refs), "cycles collected too early"
found = gc.collect()
alive = sum(r() is not None for r in refs)
assert alive == 0, f"{alive} of {len(refs)} cycles of exited threads not collected"
assert found >= 2 * len(refs), f"gc.collect() found {found}, expected at least {2 * len(refs)}"

# Objects held by live threads and by exited ones are all in gc.get_objects().
keep = []
barrier = threading.Barrier(3)
def hold():
    mine = [Node() for _ in range(1000)]
    keep.extend(mine)
    barrier.wait()
    barrier.wait()
live = [threading.Thread(target=hold) for _ in range(2)]
for t in live:
    t.start()
barrier.wait()
ids = {id(o) for o in gc.get_objects() if type(o) is Node}
assert all(id(o) in ids for o in keep), "the walk missed objects of a live thread"
barrier.wait()
for t in live:
    t.join()
ids = {id(o) for o in gc.get_objects() if type(o) is Node}
assert all(id(o) in ids for o in keep), "the walk missed objects of exited threads"
print(f"obpython_ft: {len(refs)} cycles of exited threads collected ({found} objects); "
      f"{len(keep)} objects of live and exited threads walked")
PY
"$py" -m test -j2 test_gc test_free_threading test_dict test_list test_set test_weakref test_json test_thread test_sys
