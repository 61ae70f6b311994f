#!/usr/bin/env python3
"""Which file of src/ calls which, and which of those calls run upwards.

    python3 tools/layers.py [--build DIR] [--edges] [--strict]

Definitions come from the built objects (nm on DIR's library objects; `make build` first), uses from the source text: a file "calls"
another when it names (calls, or takes the address of, or reads) a symbol
the other defines.  A name inside a header's inline function counts for the
header, not for the files that include it, so a call that a core file makes
through a hooks header is the header's.

LAYERS below is the order of docs/DESIGN.md's file table, lowest first: a
file may name what files of its own or a lower layer define.  The report
lists every edge that runs from a lower layer to a higher one, and the
circles among the .c files (strongly connected components of the call
graph).  --strict (the `layers` test) exits 1 when there is either: a call
that must run up goes through a shared header's inline code, where
DESIGN.md says why.
"""
import argparse
import os
import re
import signal
import subprocess
import sys

# Lowest first.  Each entry: (layer name, files).
LAYERS = [
    # hooks.h is the one way from the core up to the instruments.
    ("shared headers", ["types.h", "os.h", "internal.h", "atomic.h", "hooks.h", "format.h"]),
    ("platform", ["os.c", "options.c", "meta.c"]),
    ("reports", ["report.c", "symbolize.c"]),
    ("classes and the map", ["size_class.c", "arena_map.c"]),
    ("arenas", ["bitmap.h", "purge.c", "hugepage.c", "arena.c"]),
    ("huge blocks", ["huge.c"]),
    ("pools", ["pool.h", "pool.c"]),
    ("cross-thread frees", ["remote.c"]),
    ("heaps", ["heap.c"]),
    ("the paths", ["alloc.h", "free.c", "alloc.c"]),
    ("regions", ["region.c"]),
    ("instruments", ["stats.c", "check.c", "debug.h", "debug.c", "debug_entry.c",
                     "prof.h", "prof.c", "prof_dump.c"]),
    ("front ends", ["override.c", "new_delete.c", "introspect.c"]),
    ("start-up", ["init.c"]),
]

IDENT = re.compile(r"\b_?ob_\w+\b")
# What nm calls a definition: text, data, bss, read-only data (global or not).
DEFINED = set("TtDdBbRrVvWw")


def strip_c(text):
    """The source without comments and string or character literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def code_only(body):
    """A header's code: its macros and what is inside braces (inline
    functions' bodies); prototypes and extern declarations are not uses."""
    out, depth = [], 0
    for line in body.splitlines():
        if line.lstrip().startswith("#"):
            if line.lstrip()[1:].lstrip().startswith("define"):
                out.append(line)
            continue
        kept = []
        for c in line:
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif depth > 0:
                kept.append(c)
        out.append("".join(kept))
    return "\n".join(out)


def layer_of():
    index = {}
    for rank, (_, files) in enumerate(LAYERS):
        for f in files:
            index[f] = rank
    return index


def definitions(objdirs, sources):
    owner = {}
    for src in sources:
        objs = [os.path.join(d, src + ".o") for d in objdirs]
        obj = next((o for o in objs if os.path.exists(o)), None)
        if obj is None:
            sys.exit(f"layers.py: {objs[0]} is missing (make build first, or --build DIR)")
        out = subprocess.run(["nm", "--defined-only", obj], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in DEFINED and IDENT.fullmatch(parts[2]):
                # A static function of the same name in two files is two
                # functions; only a global one is a cross-file target.
                if parts[1].isupper():
                    owner[parts[2]] = src
    return owner


def strongly_connected(nodes, edges):
    """Tarjan's algorithm, iterative enough for a few dozen files."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under head
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--edges", action="store_true", help="also print every edge")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    srcdir = os.path.join(root, "src")
    files = sorted(f for f in os.listdir(srcdir) if f.endswith((".c", ".h")))
    sources = [f for f in files if f.endswith(".c")]
    # The shared library's own files (the override) are built apart.
    objdirs = [os.path.join(root, args.build, "CMakeFiles", t, "src")
               for t in ("obmalloc_objects.dir", "obmalloc_shared.dir")]
    owner = definitions(objdirs, sources)
    rank = layer_of()
    missing = [f for f in files if f not in rank]
    if missing:
        sys.exit(f"layers.py: no layer for {', '.join(missing)}: add them to LAYERS")

    calls = {}   # file -> {file: [symbols]}
    includes = {}
    for f in files:
        text = open(os.path.join(srcdir, f), encoding="utf-8").read()
        includes[f] = re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M)
        body = strip_c(text)
        if f.endswith(".h"):
            body = code_only(body)
        for name in sorted(set(IDENT.findall(body))):
            target = owner.get(name)
            if target and target != f:
                calls.setdefault(f, {}).setdefault(target, []).append(name)

    upward, through_headers = [], []
    for f, targets in sorted(calls.items()):
        for t, names in sorted(targets.items()):
            if rank[f] == 0:
                through_headers.append((f, t, names))
            elif rank[t] > rank[f]:
                upward.append((f, t, names))
    for f, incs in sorted(includes.items()):
        for h in incs:
            if h in rank and rank[h] > rank[f]:
                upward.append((f, h, ["#include"]))

    n_calls = sum(len(t) for t in calls.values())
    print(f"{len(files)} files, {n_calls} call edges between files, "
          f"{len(upward)} upward (calls and includes), "
          f"{len(through_headers)} from the shared headers")
    if args.edges:
        print("\nEdges (file -> file: names):")
        for f, targets in sorted(calls.items()):
            for t, names in sorted(targets.items()):
                print(f"  {f} -> {t}: {', '.join(names)}")
    print("\nUpward edges (a lower layer naming a higher one):")
    for f, t, names in upward:
        lf, lt = LAYERS[rank[f]][0], LAYERS[rank[t]][0]
        print(f"  {f} ({lf}) -> {t} ({lt}): {', '.join(names)}")
    if not upward:
        print("  none")
    print("\nWhat the shared headers' inline code names in .c files (not layered):")
    for f, t, names in through_headers:
        print(f"  {f} -> {t}: {', '.join(names)}")

    c_edges = {f: {t for t in targets if t.endswith(".c")}
               for f, targets in calls.items() if f.endswith(".c")}
    circles = strongly_connected(sources, c_edges)
    print("\nCircles among the .c files (calls through headers' inline code excluded):")
    for comp in circles:
        print(f"  {len(comp)} files: {' '.join(comp)}")
    if not circles:
        print("  none")
    if args.strict and (upward or circles):
        sys.exit(1)


if __name__ == "__main__":
    main()
