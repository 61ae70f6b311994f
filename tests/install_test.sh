#!/bin/sh
# `make install` gives other projects what they expect: a consumer built
# with pkg-config, one built with CMake's find_package, and the launcher,
# all from a fresh prefix.
set -eu
build=$1
src=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cat > "$work/consumer.c" <<'C'
#include <obmalloc.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    char *p = ob_malloc(100);
    strcpy(p, "installed");
    printf("%s %s\n", p, ob_version());
    ob_free(p);
    return 0;
}
C
# pkg-config (pkgconf on Debian) when present.
if command -v pkg-config >/dev/null 2>&1; then
  PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --exists obmalloc
  # No LD_LIBRARY_PATH, no rpath of our own: pkg-config's flags carry it.
  cc "$work/consumer.c" -o "$work/pc" \
    $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs obmalloc)
  env -u LD_LIBRARY_PATH "$work/pc" | grep -q '^installed '
  echo "ok: pkg-config, run from a prefix outside the loader's path"
fi
# CMake package.
mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(obmalloc 0.1 REQUIRED)
add_executable(shared_consumer ../consumer.c)
target_link_libraries(shared_consumer PRIVATE obmalloc::obmalloc)
add_executable(static_consumer ../consumer.c)
target_link_libraries(static_consumer PRIVATE obmalloc::obmalloc_static)
CM
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cm/build" >/dev/null
# CMake gives a program it builds the rpath of the imported library.
env -u LD_LIBRARY_PATH "$work/cm/build/shared_consumer" | grep -q '^installed '
"$work/cm/build/static_consumer" | grep -q '^installed '
echo "ok: find_package"
# The launcher finds the installed library and puts it in front.
"$work/prefix/bin/obmalloc-run" sh -c 'grep -q "$0" /proc/self/maps && [ "$PYTHONMALLOC" = malloc ]' \
  "$work/prefix/lib/libobmalloc.so"
"$work/prefix/bin/obmalloc-run" --stats -- sh -c '[ "$OBMALLOC_STATS" = 1 ]'
echo "ok: obmalloc-run"
# obpython, when it was built, is installed and runs from the prefix.
if [ -x "$build/obpython" ]; then
  [ "$("$work/prefix/bin/obpython" -c 'print(6 * 7)')" = 42 ]
  echo "ok: obpython"
fi
