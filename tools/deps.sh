#!/bin/sh
# Checks for what `make`, `make test` and `make run` need; on a Debian
# machine where we are root, installs what is missing with apt-get, else
# says exactly what to install.
#
# Another apt or dpkg (unattended upgrades on a fresh machine) may hold the
# package manager's locks: we wait for it, saying so every 10 s, for
# OBMALLOC_APT_WAIT seconds (default 900), then stop and name the holder.
#   tools/deps.sh --wait-for-apt   only waits (for the test of the wait)
set -e
need_cmd() { command -v "$1" >/dev/null 2>&1; }

APT_LOCKS=${OBMALLOC_APT_LOCKS:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock}
APT_WAIT=${OBMALLOC_APT_WAIT:-900}

# "PID (command)" of a process holding one of the locks, or nothing.  dpkg
# and apt take fcntl locks, which /proc/locks lists with the file's inode.
apt_lock_holder() {
  for f in $APT_LOCKS; do
    [ -e "$f" ] || continue
    ino=$(stat -c %i "$f") || continue
    pid=$(awk -v ino="$ino" '$2 != "->" { n = split($6, a, ":"); if (a[n] == ino) { print $5; exit } }' /proc/locks)
    if [ -n "$pid" ]; then
      echo "$pid ($(cat /proc/"$pid"/comm 2>/dev/null || echo gone), holding $f)"
      return
    fi
  done
}

wait_for_apt() {
  waited=0
  while holder=$(apt_lock_holder) && [ -n "$holder" ]; do
    if [ "$waited" -ge "$APT_WAIT" ]; then
      echo "obmalloc: gave up waiting for apt after ${waited} s: process $holder" >&2
      echo "obmalloc: wait for it to finish (or stop it), then run make again; OBMALLOC_APT_WAIT=seconds waits longer" >&2
      return 1
    fi
    [ $((waited % 10)) -eq 0 ] && echo "obmalloc: waiting for apt: process $holder (${waited} s of ${APT_WAIT} s)" >&2
    sleep 1
    waited=$((waited + 1))
  done
  return 0
}

if [ "${1:-}" = "--wait-for-apt" ]; then
  wait_for_apt
  exit $?
fi
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
if [ -n "${OB_DEPS_INSTALLED:-}" ]; then
  echo "obmalloc: still missing after apt-get install:$missing (see apt's messages above)" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ] && need_cmd apt-get; then
  echo "obmalloc: installing missing tools:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  wait_for_apt
  # apt's own wait covers a lock taken between our look and its start.
  lock_wait="-o DPkg::Lock::Timeout=$APT_WAIT"
  echo "obmalloc: apt-get update" >&2
  apt-get $lock_wait update -qq || { echo "obmalloc: apt-get update failed (above)" >&2; exit 1; }
  echo "obmalloc: apt-get install$missing" >&2
  apt-get $lock_wait install -y -q $missing |
    grep -E '^(Setting up|Unpacking|E:)' >&2 || true
  # What is still missing after the install (a package that failed).
  OB_DEPS_INSTALLED=1 exec "$0"
fi
echo "obmalloc: missing tools:$missing" >&2
echo "obmalloc: install them with: sudo apt-get install$missing" >&2
exit 1
