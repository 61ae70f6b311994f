#!/bin/sh
# Builds free-threaded CPython (./configure --disable-gil) from its source
# tarball, outside the clone, and leaves a launcher in the build folder
# (issue 27):
#   tools/cpython_ft.sh stock TARBALL CACHE LAUNCHER
#       CPython as released, with its own mimalloc: the baseline
#       (build/python-ft)
#   tools/cpython_ft.sh ob TARBALL CACHE LAUNCHER OBMALLOC_BUILD SOURCE
#       the same source with obpython-ft/cpython-3.13.5.patch applied:
#       obmalloc (OBMALLOC_BUILD/libobmalloc.a, SOURCE/include) serves the
#       PyMem and PyObject domains, and no mimalloc code is compiled
#       (build/obpython-ft).  The library is linked statically: when it
#       changes, only the interpreter is linked again.
# The tarball's SHA-256 must match the SHA256SUMS file beside it (or
# $CPYTHON_SHA256).  The build is kept in CACHE/<variant>-<key>, the key a
# hash of the tarball's checksum and of everything else that goes into the
# build (this script, the configure options), so a second run, from any
# clone on the machine, reuses it: a build takes about 6 minutes on 2 cores,
# a reuse a second.  The interpreter runs from its build tree (its standard
# library is the tree's Lib/, its test suite Lib/test), so nothing is
# installed anywhere.
set -eu
variant=$1 tarball=$2 cache=$3 launcher=$4
here=$(cd "$(dirname "$0")" && pwd)
say() { echo "cpython_ft: $*" >&2; }

[ -f "$tarball" ] || { say "no CPython source tarball at $tarball (set CPYTHON_TARBALL; CPython 3.13.5's Python-3.13.5.tar.xz from python.org/downloads, or Debian 13's python3.13_3.13.5.orig.tar.xz)"; exit 2; }
expected=${CPYTHON_SHA256:-}
if [ -z "$expected" ]; then
  sums=$(dirname "$tarball")/SHA256SUMS
  [ -f "$sums" ] && expected=$(awk -v f="$(basename "$tarball")" '$2 == f || $2 == "*" f { print $1 }' "$sums")
fi
[ -n "$expected" ] || { say "no checksum for $tarball: put it in SHA256SUMS beside it or in CPYTHON_SHA256"; exit 2; }
actual=$(sha256sum "$tarball" | cut -d' ' -f1)
[ "$actual" = "$expected" ] || { say "$tarball: SHA-256 $actual, expected $expected"; exit 2; }

patch_file= oblib= obinclude=
case $variant in
  stock) configure_opts="--disable-gil --with-mimalloc" ;;
  ob)
    oblib=$(cd "$5" && pwd)/libobmalloc.a obinclude=$(cd "$6" && pwd)/include
    patch_file=$(cd "$6" && pwd)/obpython-ft/cpython-3.13.5.patch
    [ -f "$oblib" ] || { say "no $oblib: build obmalloc first"; exit 2; }
    configure_opts="--disable-gil --without-mimalloc" ;;
  *) say "unknown variant $variant (stock or ob)"; exit 2 ;;
esac
key=$( { echo "$actual"; echo "$configure_opts"; cat "$0";
         [ -z "$patch_file" ] || cat "$patch_file" "$obinclude/obmalloc.h"; } | sha256sum | cut -c1-16)
dir=$cache/$variant-$key
tree=$dir/src

if [ ! -x "$tree/python" ] || [ ! -f "$dir/built" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  say "building $variant free-threaded CPython in $dir (about 6 minutes on 2 cores; log in $dir/build.log)"
  start=$(date +%s)
  tar -xf "$tarball" -C "$dir"
  mv "$dir"/Python-* "$tree"
  jobs=$(nproc 2>/dev/null || echo 2)
  if [ -n "$patch_file" ]; then
    (cd "$tree" && patch -p1 -s < "$patch_file") || { say "$patch_file does not apply"; exit 1; }
    # configure lets --disable-gil go without mimalloc (the patch), and the
    # interpreter is built on obmalloc's API, linked statically.
    export with_obmalloc_ft=yes
    set -- CPPFLAGS="-I$obinclude" LIBS="$oblib -lpthread"
    cp "$oblib" "$dir/linked.a"
  else
    set --
  fi
  if ! (cd "$tree" && ./configure $configure_opts "$@" > "$dir/build.log" 2>&1 &&
        { [ -z "$patch_file" ] || echo '#define WITH_OBMALLOC 1' >> pyconfig.h; } &&
        make -j"$jobs" >> "$dir/build.log" 2>&1); then
    tail -n 30 "$dir/build.log" >&2
    say "the build failed; its whole output is in $dir/build.log"
    exit 1
  fi
  "$tree/python" -c 'import sys; assert not sys._is_gil_enabled()' ||
    { say "$tree/python runs with the GIL: not a free-threaded build"; exit 1; }
  touch "$dir/built"
  say "built in $(( $(date +%s) - start )) s"
elif [ -n "$oblib" ] && ! cmp -s "$oblib" "$dir/linked.a"; then
  say "obmalloc changed: linking $variant again"
  rm -f "$tree/python"
  cp "$oblib" "$dir/linked.a"
  (cd "$tree" && make -j"$(nproc 2>/dev/null || echo 2)" python >> "$dir/build.log" 2>&1) ||
    { tail -n 30 "$dir/build.log" >&2; exit 1; }
fi

mkdir -p "$(dirname "$launcher")"
cat > "$launcher.tmp" <<EOF
#!/bin/sh
# Free-threaded CPython ($variant), built by tools/cpython_ft.sh in
# $dir
exec "$tree/python" "\$@"
EOF
chmod +x "$launcher.tmp"
mv "$launcher.tmp" "$launcher"
