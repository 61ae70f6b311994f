#!/bin/sh
# A slice of CPython's own regression tests, from the test package of the
# interpreter obpython embeds, run by obpython (and, through the test
# runner's -j, by obpython workers).  It must pass exactly as under that
# python3: a test file that fails under obpython is run again, verbosely,
# under both, and must fail the same test cases in the same way under
# python3 (some fail on a given machine whatever the allocator).
# OBMALLOC_DEBUG=1 in the environment runs it all in debug mode.
#   obpython_regrtest.sh <obpython> <the python3 it embeds>
set -u
ob=$1 py=$2
if ! "$ob" -c 'import test.support, test.test_json' 2>/dev/null; then
  echo "obpython_regrtest: the interpreter has no test package (Debian: apt-get install libpython3.11-testsuite)" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log" "$log".*' EXIT
"$ob" -m test -j2 --timeout 600 \
  test_gc test_threading test_subprocess test_json test_pickle test_unicode \
  test_re test_collections test_weakref test_dict test_set test_list \
  test_functools test_itertools test_sort test_deque > "$log" 2>&1
rc=$?
tail -n 6 "$log"
[ $rc = 0 ] && exit 0
# "N tests failed:" is followed by the names, indented.
failed=$(awk '/tests? failed:$/ {f = 1; next} f && /^    / {print; next} {f = 0}' "$log" | tr -s ' ' '\n')
if [ -z "$failed" ]; then
  cat "$log" >&2
  exit 1
fi
status=0
for t in $failed; do
  # The failing cases, by name and kind; verbose output names each one.
  (unset OBMALLOC_DEBUG; "$py" -m test -v "$t") 2>&1 | grep -E '^(FAIL|ERROR): ' | sort > "$log.py"
  "$ob" -m test -v "$t" 2>&1 | grep -E '^(FAIL|ERROR): ' | sort > "$log.ob"
  if [ -s "$log.ob" ] && cmp -s "$log.py" "$log.ob"; then
    echo "obpython_regrtest: $t fails as under python3 itself:"
    sed 's/^/  /' "$log.ob"
  else
    echo "obpython_regrtest: $t fails under obpython, not as under python3:" >&2
    diff "$log.py" "$log.ob" >&2
    status=1
  fi
done
exit $status
