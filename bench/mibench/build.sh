#!/bin/sh
# Builds mimalloc-bench's programs (github.com/daanx/mimalloc-bench) outside
# the project, from a copy of that repository brought in by hand:
#
#   bench/mibench/build.sh SRC OUT
#
# SRC is a checkout of mimalloc-bench (its work tree, or a bare git
# directory, whose HEAD is exported); OUT is where the programs go, under
# OUT/bin, with the inputs they read.  The project never holds their code:
# their licences differ, and the suite only runs them (bench/suite.py
# --mibench OUT).  The build is compiled here, with the flags of their own
# CMakeLists.txt, without the programs that download more sources
# (sh6bench, sh8bench, the security tests, lean, redis, ...).  Rebuilt only
# when the source's commit changes (OUT/stamp).
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 MIMALLOC_BENCH_CHECKOUT OUT_DIR" >&2
  exit 2
fi
src=$1
out=$2
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The source: a work tree with bench/, or a git directory to export.
if [ -d "$src/bench/cfrac" ]; then
  tree=$src/bench
  rev=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo worktree)
elif git --git-dir="$src" rev-parse HEAD >/dev/null 2>&1; then
  rev=$(git --git-dir="$src" rev-parse HEAD)
  if [ "$(cat "$out/stamp" 2>/dev/null)" != "$rev" ]; then
    rm -rf "$out/src"
    mkdir -p "$out/src"
    git --git-dir="$src" archive HEAD bench | tar -x -C "$out/src"
  fi
  tree=$out/src/bench
else
  echo "$0: $src is neither a mimalloc-bench checkout nor its git directory" >&2
  exit 2
fi

if [ "$(cat "$out/stamp" 2>/dev/null)" = "$rev" ] && [ -x "$out/bin/mleak" ]; then
  echo "mimalloc-bench programs up to date in $out/bin ($rev)"
  exit 0
fi

mkdir -p "$out/bin"
CC=${CC:-gcc}
CXX=${CXX:-g++}
quiet="-w -Wno-implicit-function-declaration -Wno-implicit-int -Wno-int-conversion -Wno-incompatible-pointer-types"
cflags="-O3 -DNDEBUG $quiet"   # CMake's Release flags, as their build
cxxflags="-O3 -DNDEBUG -w"
b=$out/bin
cd "$tree"
echo "building mimalloc-bench's programs into $b"
build() { # name command...
  name=$1; shift
  printf '  %s\n' "$name"
  "$@" || { echo "$0: building $name failed" >&2; exit 1; }
}
cfrac_src="cfrac.c pops.c pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c
  pmul.c pdivmod.c psqrt.c ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c
  pidiv.c pimod.c picmp.c primes.c pcfrac.c pgcd.c"
espresso_src="cofactor.c cols.c compl.c contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c cvrout.c
  dominate.c equiv.c espresso.c essen.c exact.c expand.c gasp.c getopt.c gimpel.c globals.c
  hack.c indep.c irred.c main.c map.c matrix.c mincov.c opo.c pair.c part.c primes.c
  reduce.c rows.c set.c setc.c sharp.c sminterf.c solution.c sparse.c unate.c utility.c
  verify.c"
barnes_src="code.c code_io.c load.c grav.c getparam.c util.c"
build cfrac sh -c "cd cfrac && $CC $cflags -std=gnu89 -DNOMEMOPT=1 $(echo $cfrac_src) -o $b/cfrac -lm"
build espresso sh -c "cd espresso && $CC $cflags -std=gnu89 $(echo $espresso_src) -o $b/espresso -lm"
build barnes sh -c "cd barnes && $CC $cflags -std=gnu89 $barnes_src -o $b/barnes -lm"
build larson $CXX $cxxflags -std=c++17 -DCPP=1 larson/larson.cpp -o "$b/larson" -lpthread
build larson-sized $CXX $cxxflags -std=c++17 -fsized-deallocation -DCPP=1 -DSIZED=1 \
  larson/larson.cpp -o "$b/larson-sized" -lpthread
build alloc-test $CXX $cxxflags -std=c++17 -DBENCH=4 alloc-test/test_common.cpp \
  alloc-test/allocator_tester.cpp -o "$b/alloc-test" -lpthread
build cache-scratch $CXX $cxxflags -std=c++17 cache-scratch/cache-scratch.cpp -o "$b/cache-scratch" -lpthread
build cache-thrash $CXX $cxxflags -std=c++17 cache-thrash/cache-thrash.cpp -o "$b/cache-thrash" -lpthread
build xmalloc-test $CC $cflags xmalloc-test/xmalloc-test.c -o "$b/xmalloc-test" -lpthread
build malloc-large $CXX $cxxflags -std=c++17 malloc-large/malloc-large.cpp -o "$b/malloc-large" -lpthread
build mstress $CC $cflags mstress/mstress.c -o "$b/mstress" -lpthread
build mleak $CC $cflags mleak/mleak.c -o "$b/mleak" -lpthread
build rptest $CXX $cxxflags -x c++ -fpermissive -Irptest rptest/rptest.c rptest/thread.c \
  rptest/timer.c -o "$b/rptest" -lpthread -lm
build glibc-simple $CC $cflags glibc-bench/bench-malloc-simple.c -o "$b/glibc-simple" -lpthread
build glibc-thread $CC $cflags glibc-bench/bench-malloc-thread.c -o "$b/glibc-thread" -lpthread -lm
cp espresso/largest.espresso barnes/input "$out/"
echo "$rev" > "$out/stamp"
echo "built: $(ls "$b" | tr '\n' ' ')"
