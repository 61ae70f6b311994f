#!/bin/sh
# obpython behaves as python3 does: for each command line, the same
# stdout, the same stderr (with the program's name put back) and the same
# exit code.  Then: its memory really comes from obmalloc.
#   obpython_cli.sh <obpython> <the python3 it embeds>
set -u
ob=$1 py=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail=0
n=0

same() { # stdin-file args...
  input=$1; shift
  n=$((n + 1))
  "$py" "$@" < "$input" > py.out 2> py.err; py_rc=$?
  "$ob" "$@" < "$input" > ob.out 2> ob.err; ob_rc=$?
  # Where the program names itself (usage lines, sys.executable), use one name.
  sed -i "s|$ob|PYTHON|g" ob.out ob.err
  sed -i "s|$py|PYTHON|g" py.out py.err
  if [ $py_rc != $ob_rc ] || ! cmp -s py.out ob.out || ! cmp -s py.err ob.err; then
    echo "obpython_cli: differs from python3 for: $*" >&2
    echo "  exit codes: python3 $py_rc, obpython $ob_rc" >&2
    diff py.out ob.out >&2
    diff py.err ob.err >&2
    fail=1
  fi
}

: > empty
cat > script.py <<'PY'
import sys
print("script", sys.argv[1:], __name__)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
PY
cat > threads.py <<'PY'
import threading
out = [0] * 8
def work(i):
    d = {}
    for k in range(20000):
        d[k] = str(k) * (k % 5)
    out[i] = sum(len(v) for v in d.values())
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(out)
PY
echo '{"b": [1, 2, {"c": null}], "a": "x"}' > data.json
printf 'import sys\nprint("from stdin", sys.argv)\n' > stdin.py

same empty -c 'print(1 + 1)'
same empty -c 'import sys; print(sys.argv)' a 'b c'
same empty -c 'import sys; sys.exit(7)'
same empty -c 'raise SystemExit("bye")'
same empty -c 'raise ValueError(3)'
same empty -c 'import os; os._exit(5)'
same empty script.py
same empty script.py 4 extra
same stdin.py
same stdin.py - arg
same data.json -m json.tool --sort-keys
same empty -m platform --nonaliased
same empty -I -c 'import sys; print(sys.flags.isolated, sys.flags.ignore_environment)'
same empty -O -c 'print(__debug__)'
same empty -B -E -s -c 'import sys; print(sys.dont_write_bytecode)'
same empty -X dev -c 'import sys, warnings; print(sys.flags.dev_mode)'
same empty -X utf8 -c 'import sys; print(sys.flags.utf8_mode)'
same empty -W error -c 'import warnings; warnings.warn("w")'
same empty -V
same empty --version
same empty -Z
same empty -c
same empty nonexistent_script.py
same empty threads.py
same empty -c 'import subprocess, sys; r = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True); print(r.stdout, r.returncode)'
same empty -c 'import _ctypes, _decimal, _json, zlib, sqlite3, ctypes; print(sqlite3.connect(":memory:").execute("select 6 * 7").fetchone(), ctypes.c_int(5).value, zlib.crc32(b"ob"))'
same empty -c 'import multiprocessing as m; print(m.get_context("spawn").Pool(2).map(abs, [-1, -2, 3]))'
PYTHONMALLOC=debug same empty -c 'import sys; print(len(sys.modules) > 10)'

# Its memory is obmalloc's: the statistics at exit count the objects.
OBMALLOC_STATS=json OBMALLOC_STATS_FILE=stats.json "$ob" -c 'x = [{"k": i} for i in range(100000)]'
if ! "$py" -c '
import json, sys
s = json.load(open("stats.json"))
mallocs = sum(c["mallocs"] for c in s["classes"])
sys.exit(0 if mallocs > 200000 else "only %d mallocs" % mallocs)'; then
  echo "obpython_cli: obmalloc did not serve the interpreter's objects" >&2
  fail=1
fi
[ $fail = 0 ] && echo "obpython_cli: $n command lines behave as under python3; objects come from obmalloc"
exit $fail
