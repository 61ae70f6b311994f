#!/bin/sh
# A slice of CPython's own regression tests, with CPython's object
# allocator turned off (PYTHONMALLOC=malloc) so that every object comes
# from obmalloc, preloaded into the interpreter and every worker it starts.
set -eu
lib=$1
py=${OB_PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import test.support, test.test_json' 2>/dev/null; then
  echo "dropin_cpython: $py has no test suite: apt-get install libpython3.11-testsuite" >&2
  exit 1
fi
export LD_PRELOAD=$lib PYTHONMALLOC=malloc
"$py" -c 'import ctypes; ctypes.CDLL(None).ob_version' || {
  echo "dropin_cpython: obmalloc is not in the interpreter" >&2; exit 1; }
exec "$py" -m test -j2 --timeout 600 \
  test_json test_dict test_set test_list test_tuple test_string test_re \
  test_collections test_threading test_subprocess test_pickle test_weakref \
  test_gc test_itertools test_functools test_unicode test_bytes test_sort \
  test_heapq test_deque
