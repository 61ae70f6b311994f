#!/bin/sh
# Checks for what `make`, `make test` and `make run` need; on a Debian
# machine where we are root, installs what is missing with apt-get, else
# says exactly what to install.
set -e
need_cmd() { command -v "$1" >/dev/null 2>&1; }
missing=""
need_cmd cmake || missing="$missing cmake"
need_cmd gcc || missing="$missing gcc"
need_cmd g++ || missing="$missing g++"
need_cmd make || missing="$missing make"
need_cmd valgrind || missing="$missing valgrind"
[ -x /usr/bin/python3 ] || missing="$missing python3"
# CPython's regression tests, run on the drop-in library.
/usr/bin/python3 -c 'import test.support, test.test_json' 2>/dev/null ||
  missing="$missing libpython3.11-testsuite"
# obpython embeds the python3 first on PATH: it needs that interpreter's
# development files (Debian's python3 gets them from python3-dev).
py=$(command -v python3 || true)
if [ -n "$py" ] && ! "$py" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  missing="$missing python3-dev"
fi
# The sanitizer runtimes ship with gcc on Debian; check the ones the tests use.
for lib in libasan.so libubsan.so libtsan.so; do
  gcc -print-file-name=$lib | grep -q / || missing="$missing gcc"
done
# The fuzzer: clang and its libFuzzer runtime.
if need_cmd clang; then
  [ -e "$(clang --print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" ] || missing="$missing libclang-rt-14-dev"
else
  missing="$missing clang libclang-rt-14-dev"
fi
# The heap profiler's tests read its output with google-pprof, which draws
# graphs with graphviz's dot.
need_cmd google-pprof || missing="$missing google-perftools"
need_cmd dot || missing="$missing graphviz"
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
[ -z "$(echo $missing | tr -d ' ')" ] && exit 0
if [ "$(id -u)" = 0 ] && need_cmd apt-get; then
  echo "obmalloc: installing missing tools:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq $missing >/dev/null
  exit 0
fi
echo "obmalloc: missing tools:$missing" >&2
echo "obmalloc: install them with: sudo apt-get install$missing" >&2
exit 1
