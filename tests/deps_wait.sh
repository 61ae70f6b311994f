#!/bin/sh
# tools/deps.sh and a package manager that is busy: with one of apt's locks
# held by another process, it waits, says so naming the holder, gives up
# after OBMALLOC_APT_WAIT seconds with the holder's name, and goes on by
# itself once the lock is let go.  (A lock file of our own stands in for
# /var/lib/dpkg/lock-frontend: OBMALLOC_APT_LOCKS.)
set -u
deps=$1
fail() { echo "deps_wait: $*" >&2; exit 1; }
dir=$(mktemp -d)
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$dir"' EXIT
lock=$dir/lock-frontend
: > "$lock"
# An fcntl lock, as dpkg and apt take them.
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "w"); fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close(); time.sleep(120)' "$lock" "$dir/held" &
holder=$!
n=0
while [ ! -e "$dir/held" ]; do
  sleep 0.1; n=$((n + 1)); [ $n -lt 300 ] || fail "the lock holder did not start"
done

out=$(OBMALLOC_APT_LOCKS="$lock" OBMALLOC_APT_WAIT=2 sh "$deps" --wait-for-apt 2>&1)
rc=$?
echo "$out"
[ $rc -ne 0 ] || fail "returned 0 while the lock was held"
echo "$out" | grep -q "waiting for apt: process $holder (" || fail "no 'waiting for apt' line naming process $holder"
echo "$out" | grep -q "gave up waiting for apt after 2 s: process $holder (.*holding $lock)" ||
  fail "gave up without naming the holder and its lock"

# Let go after 2 s: the wait ends by itself (it would give up, and fail,
# only at its 60 s limit).
(sleep 2; kill "$holder") &
out=$(OBMALLOC_APT_LOCKS="$lock" OBMALLOC_APT_WAIT=60 sh "$deps" --wait-for-apt 2>&1) ||
  fail "did not go on once the lock was free: $out"
echo "$out"
echo "$out" | grep -q "waiting for apt" || fail "did not wait while the lock was held"
holder=
echo "deps_wait: ok"
