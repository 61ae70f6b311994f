#!/usr/bin/env python3
"""The benchmark suite: each workload under each allocator, by LD_PRELOAD.

    bench/suite.py [--quick] [--runs N] [--threads N]
                   [--workloads a,b,...] [--allocators a,b,...]
                   [--out DIR] [--docs] [--variant NAME=LIB ...] [--mibench DIR]

Workloads are mimalloc-bench's own programs (rows mb-*, when built: see
--mibench), our own programs with the shapes of the classic allocator
benchmarks (bench/workloads/), plus real programs from Debian: CPython, the
sqlite3 shell and lua5.4.  Each run checks its own result (a workload that
computes a wrong answer fails the suite) and is measured from outside:
wall time, and from wait4 peak RSS, system time and minor page faults (the
kernel's share: memory given back and faulted in again shows there).  Runs are interleaved allocator by
allocator, so that noise on this shared machine hits them all alike; the
tables give medians, each also as a ratio to obmalloc (above 1: obmalloc
is better).

Writes DIR/suite.md, DIR/suite.csv and DIR/suite.png (gnuplot, when
installed); with --docs also docs/BENCHMARKS.md.
"""
import argparse
import csv
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PEERS = {
    "mimalloc": ("libmimalloc.so.2", "libmimalloc2.0"),
    "jemalloc": ("libjemalloc.so.2", "libjemalloc2"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
}
def python3():
    """The interpreter obpython embeds (the python3 first on PATH when it
    was built), so that its rows compare the same CPython; else python3."""
    try:
        with open(os.path.join(BUILD, "obpython.python")) as f:
            return f.read().strip()
    except OSError:
        return shutil.which("python3") or sys.executable


PYTHON = python3()
# mimalloc-bench's programs, built outside the project by
# bench/mibench/build.sh (make bench-mibench MIBENCH_SRC=...).
MIBENCH_DEFAULT = os.environ.get("OBMALLOC_MIBENCH") or os.path.join(
    os.path.expanduser("~"), ".cache", "obmalloc", "mimalloc-bench")
OBPYTHON = os.path.join(BUILD, "obpython")
# Free-threaded CPython 3.13 (issue 27, make obpython-ft python-ft): the
# stock build on its own mimalloc, and the same source on obmalloc.  They
# run the 'ft' rows only, in a table of their own, against obpython-ft.
FREE_THREADED = {"obpython-ft": os.path.join(BUILD, "obpython-ft"),
                 "python-ft": os.path.join(BUILD, "python-ft")}
FREE_THREADED_ENV = {}  # --variant's environment additions, by name
# pyperformance's pure-Python benchmarks, run by bench/pyperf/run.py (make
# bench-pyperformance), which takes too long to run inside the suite: the
# suite shows its latest results, with their date, as its pyperformance row.
PYPERFORMANCE_DEFAULT = os.path.join(ROOT, "bench", "results", "pyperformance")
# issue 25: obpython at least 5 % faster than pymalloc on the geometric
# mean, and no benchmark more than 5 % slower.
PYPERFORMANCE_GEOMEAN = 1 / 1.05
PYPERFORMANCE_WORST = 1.05


# CPython's own regression tests (Debian: libpython3.11-testsuite); the first
# four make the quick slice.
# bench/workloads/pyshapes.py: Python programs of different shapes.
PY_SHAPES = [
    ("churn", "object churn (tuples, lists, dicts)"),
    ("json", "JSON encode and decode of nested records"),
    ("strings", "string building, split, replace"),
    ("classes", "a class-heavy program (instances, slots, dataclasses)"),
    ("bigheap", "a big live heap (400k records) partly replaced, round after round"),
]
# The same program at three heap sizes (issue 11: the gap must not grow
# with the heap): thousands of records.
PY_RECORDS = [30, 100, 300]
# Workloads whose own reported time is the figure (the rest are timed from
# outside): gc-walk times only its collections.
SELF_TIMED = {"gc-walk", "tlb-walk", "region", "region-free", "ft-gcexit"}
# Rows where obmalloc must not pay the kernel more than tcmalloc (issue 25):
# minor faults and system time within this factor of tcmalloc's.
KERNEL_BOUND = {"mb-mstressN": 2.0, "mb-malloc-large": 2.0}
# Our look-alikes of mimalloc-bench's programs, and their originals.  They
# drifted (issue 25: the mstress look-alike had obmalloc at 0.60 of
# mimalloc's time, the original at 1.89; now the look-alike has it behind
# tcmalloc, the original ahead), so when the originals are built the
# suite runs them instead (name a look-alike in --workloads to run it).
LOOKALIKE = {"bignum": "mb-cfrac", "larson": "mb-larsonN", "xmalloc": "mb-xmalloc-testN",
             "mstress": "mb-mstressN", "rptest": "mb-rptestN",
             "cache-scratch": "mb-cache-scratchN", "malloc-large": "mb-malloc-large"}


def mibench_workloads(root, procs):
    """mimalloc-bench's programs as its bench.sh runs them (mstressN as
    issue 25 measured it, heavier than bench.sh's 50 25); the
    multi-threaded ones report a relative time from their own throughput,
    as bench.sh computes it.  name -> (description, argv, kind, figure)."""
    b = lambda name: os.path.join(root, "bin", name)
    p = str(procs)
    rel = {
        # "... relative time: 35.803s."
        "larson": lambda t: float(t.split("relative time:")[1].split("s")[0]),
        # "...1287897 memory ops/CPU second": 2000000 / ops
        "rptest": lambda t: 2e6 / float(re.search(r"(\d+) memory ops", t).group(1)),
        # "rtime: 8.871, free/sec: ..."
        "xmalloc": lambda t: float(t.split("rtime:")[1].split(",")[0]),
        # "154747974 iterations": 1e9 / iterations
        "glibc-thread": lambda t: 1e9 / float(t.split()[0]),
    }
    mb = {
        "mb-cfrac": ("cfrac: factoring a 44-digit number, bignums (1 thread)",
                     [b("cfrac"), "17545186520507317056371138836327483792789528"], None),
        "mb-espresso": ("espresso: logic minimisation of largest.espresso (1 thread)",
                        [b("espresso"), os.path.join(root, "largest.espresso")], None),
        "mb-barnes": ("barnes: Barnes-Hut n-body, few allocations (1 thread)",
                      ["sh", "-c", "%s < %s" % (b("barnes"), os.path.join(root, "input"))], None),
        "mb-larsonN": ("larson: a server's threads free each other's blocks "
                       "(relative time from throughput)",
                       [b("larson"), "5", "8", "1000", "5000", "100", "4141", p], rel["larson"]),
        "mb-larsonN-sized": ("larson with C++ sized delete",
                             [b("larson-sized"), "5", "8", "1000", "5000", "100", "4141", p],
                             rel["larson"]),
        "mb-xmalloc-testN": ("xmalloc-test: producers pass 64-byte blocks to consumers "
                             "(relative time)", [b("xmalloc-test"), "-w", p, "-t", "5", "-s", "64"],
                             rel["xmalloc"]),
        "mb-mstressN": ("mstress 4 100 100: threads come and go, objects migrate",
                        [b("mstress"), "4", "100", "100"], None),
        "mb-rptestN": ("rptest: random sizes to 16000 bytes, cross-thread frees (relative time "
                       "from ops per CPU second)",
                       [b("rptest"), p, "0", "1", "2", "500", "1000", "100", "8", "16000"],
                       rel["rptest"]),
        "mb-glibc-simple": ("glibc's bench-malloc-simple", [b("glibc-simple")], None),
        "mb-glibc-thread": ("glibc's bench-malloc-thread (relative time from iterations)",
                            [b("glibc-thread"), p], rel["glibc-thread"]),
        "mb-cache-scratch1": ("cache-scratch, 1 thread: false sharing of passed-on blocks",
                              [b("cache-scratch"), "1", "1000", "1", "2000000", p], None),
        "mb-cache-scratchN": ("cache-scratch, N threads",
                              [b("cache-scratch"), p, "1000", "1", "2000000", p], None),
        "mb-cache-thrash1": ("cache-thrash, 1 thread: false sharing of a thread's own blocks",
                             [b("cache-thrash"), "1", "1000", "1", "2000000", p], None),
        "mb-cache-thrashN": ("cache-thrash, N threads",
                             [b("cache-thrash"), p, "1000", "1", "2000000", p], None),
        "mb-alloc-test1": ("alloc-test: objects up to 1 KiB, 1 thread", [b("alloc-test"), "1"], None),
        "mb-alloc-testN": ("alloc-test, N threads", [b("alloc-test"), p], None),
        "mb-malloc-large": ("malloc-large: 20 buffers of 5 to 25 MiB replaced 2000 times",
                            [b("malloc-large")], None),
        "mb-mleak10": ("mleak 5: threads that exit leaking", [b("mleak"), "5"], None),
        "mb-mleak100": ("mleak 50", [b("mleak"), "50"], None),
    }
    return {k: (d, argv, "mb", fig) for k, (d, argv, fig) in mb.items()}
PY_TESTS = ["test_json", "test_dict", "test_set", "test_re", "test_collections",
            "test_list", "test_itertools", "test_unicode", "test_sort", "test_heapq",
            "test_functools"]


def workloads(threads, quick, mibench=None):
    """name -> (description, argv, kind[, figure]); kind 'mt' for
    multi-threaded, 'mb' for mimalloc-bench's programs (first, when
    built); figure, if given, reads a run's time from its output."""
    q = quick
    wl = lambda name: os.path.join(BUILD, "bench", "wl_" + name)
    t = str(threads)
    shapes = os.path.join(ROOT, "bench", "workloads", "pyshapes.py")
    py = {"py-" + shape: ("CPython: " + desc, [PYTHON, shapes, shape, "2" if q else "10"], "py")
          for shape, desc in PY_SHAPES}
    for k in PY_RECORDS[:1 if q else None]:
        py["py-records-%dk" % k] = (
            "CPython: %d000 JSON-like records built, round-tripped through json, "
            "grouped and sorted" % k, [PYTHON, shapes, "records", str(k)], "py")
    py["gc-walk"] = ("CPython: full gc.collect() calls over two big heaps (JSON-like "
                     "records; objects with holes), the collections only",
                     [PYTHON, os.path.join(ROOT, "bench", "workloads", "gcwalk.py"),
                      "100000" if q else "300000", "5"], "py")
    wl = {
        "bignum": ("cfrac-like: bignum arithmetic, small short-lived blocks, 1 thread",
                   [wl("bignum"), "300", "15" if q else "80"], "st"),
        "larson": ("larson-like server: threads free each other's blocks",
                   [wl("larson"), t, "8" if q else "30", "100000"], "mt"),
        "xmalloc": ("xmalloc-like: producers pass 64-byte objects to consumers",
                    [wl("xmalloc"), t, "500000" if q else "2000000"], "mt"),
        "mstress": ("mstress-like: threads come and go, objects migrate",
                    [wl("mstress"), t, "10" if q else "60", "20000"], "mt"),
        "rptest": ("rptest-like: random sizes to 16 KiB, cross-thread frees",
                   [wl("rptest"), t, "10" if q else "40", "50000"], "mt"),
        "cache-scratch": ("cache-scratch-like: false sharing between threads' blocks",
                          [wl("cache_scratch"), t, "5000" if q else "20000", "1000", "8"], "mt"),
        "tlb-walk": ("TLB-bound: 300 MB of small blocks linked in random order, walked "
                     "(the walk only)", [wl("tlbwalk"), "100" if q else "300", "2" if q else "3"],
                     "st"),
        "region": ("a million small blocks (16 to 128 bytes) built then dropped, 10 rounds, "
                   "the drops only: by the allocator's own heap destroy (ob_region_destroy, "
                   "mi_heap_destroy, a jemalloc arena's destroy), one by one where it has none "
                   "(glibc, tcmalloc)", [wl("region"), "heap", "300000" if q else "1000000",
                                         "10"], "st"),
        "region-free": ("the same blocks freed one by one under every allocator, the frees "
                        "only", [wl("region"), "free", "300000" if q else "1000000", "10"], "st"),
        "malloc-large": ("malloc-large-like: blocks of 5 to 25 MiB",
                         [wl("malloc_large"), "80" if q else "300"], "st"),
        "cpython": ("CPython: JSON, dicts, pickle (examples/workload.py)",
                    [PYTHON, os.path.join(ROOT, "examples", "workload.py"),
                     "20000" if q else "60000"], "py"),
        "cpython-tests": ("CPython: a slice of its own regression tests (json, dict, set, re, ...)",
                          [PYTHON, "-m", "test", "-q"] + PY_TESTS[:4 if q else None], "py"),
        "sqlite3": ("sqlite3 shell: build, index, query a 200k-row table",
                    ["sh", "-c", "sqlite3 :memory: < " +
                     os.path.join(ROOT, "bench", "workloads", "sqlite.sql")], "st"),
        "lua": ("lua5.4: tables, strings, closures",
                ["lua5.4", os.path.join(ROOT, "bench", "workloads", "lua.lua"),
                 "100000" if q else "300000"], "st"),
    }
    wl.update(py)  # after the others in the tables
    ft = os.path.join(ROOT, "bench", "workloads", "pyft.py")
    ftpy = FREE_THREADED["python-ft"]  # each of FREE_THREADED runs in its place
    cores = str(min(threads, os.cpu_count() or 2))
    wl.update({
        "ft-records": ("free-threaded CPython: %s threads each build %d000 JSON-like records, "
                       "round-trip them through json, group and sort them" % (t, 10 if q else 50),
                       [ftpy, ft, "records", t, "10" if q else "50"], "ft"),
        # As many threads as cores: with more, the lock-free reads' retries
        # under the writers' critical sections turn into spinning and
        # sched_yield (half the run in the kernel), and the runs of one
        # build spread from 3.6 to 7.0 s.
        "ft-shared": ("free-threaded CPython: %s threads replace values in dicts and lists of "
                      "their own while reading the others' (objects freed while other threads "
                      "read them)" % cores, [ftpy, ft, "shared", cores, "30" if q else "200"],
                      "ft"),
        "ft-gcexit": ("free-threaded CPython: full gc.collect() calls over a heap that %s "
                      "threads built (records and cycles), half of them exited, the "
                      "collections only" % t, [ftpy, ft, "gcexit", t, "30" if q else "100"],
                      "ft"),
        "ft-records-100k": ("free-threaded CPython, one thread: py-records-100k",
                            [ftpy, shapes, "records", "30" if q else "100"], "ft"),
        "ft-json": ("free-threaded CPython, one thread: py-json",
                    [ftpy, shapes, "json", "10" if q else "30"], "ft"),
    })
    if mibench and os.path.exists(os.path.join(mibench, "bin", "mstress")):
        return dict(mibench_workloads(mibench, os.cpu_count() or 2), **wl)
    return wl


def allocators(wanted):
    """name -> environment additions; peers that are missing are skipped
    (installed with apt-get when running as root)."""
    found = {"obmalloc": {"LD_PRELOAD": os.path.join(BUILD, "libobmalloc.so")},
             "glibc": {}}
    missing = [pkg for name, (lib, pkg) in PEERS.items()
               if name in wanted and not os.path.exists(os.path.join(LIBDIR, lib))]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        print("suite: installing", " ".join(missing), file=sys.stderr)
        subprocess.call(["apt-get", "install", "-y", "-qq"] + missing,
                        stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    for name, (lib, pkg) in PEERS.items():
        path = os.path.join(LIBDIR, lib)
        if os.path.exists(path):
            found[name] = {"LD_PRELOAD": path}
        elif name in wanted:
            print("suite: %s not installed (apt-get install %s): skipped" % (name, pkg),
                  file=sys.stderr)
    return {k: v for k, v in found.items() if k in wanted}


def run_once(argv, env):
    start = time.monotonic()
    # In a scratch directory: some programs leave files where they run
    # (mimalloc-bench's rptest writes benchmark-random-*.txt).
    with tempfile.TemporaryFile() as out, tempfile.TemporaryDirectory() as scratch:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE, cwd=scratch)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError("%s exited with status %d: %s" % (" ".join(argv), status,
                                                             err.decode(errors="replace")[-300:]))
    return wall, usage.ru_maxrss / 1024.0, text, usage.ru_stime, usage.ru_minflt


def check_of(text):
    """The part of a run's output that must be the same under every allocator."""
    lines = [l for l in text.splitlines() if l.strip()]
    verdicts = [l for l in lines if "Tests result:" in l or l.startswith("Total test")]
    if verdicts:
        # CPython's test runner: its verdict and counts, not its timings.
        return verdicts
    if lines and lines[-1].startswith("result "):
        # "result <name> <seconds> <check>": the check, not the time.
        return lines[-1].split()[3:]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads, 1 run: under 3 minutes")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--workloads", default="")
    ap.add_argument("--allocators",
                    default="obmalloc,glibc,mimalloc,jemalloc,tcmalloc,pymalloc,obpython,"
                            "obpython-ft,python-ft",
                    help="obpython and pymalloc run the Python workloads only, "
                         "obpython-ft and python-ft the free-threaded ones (ft-*)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--docs", action="store_true", help="also write docs/BENCHMARKS.md")
    ap.add_argument("--mibench", default=MIBENCH_DEFAULT,
                    help="mimalloc-bench's programs, built by bench/mibench/build.sh "
                         "(default: $OBMALLOC_MIBENCH or ~/.cache/obmalloc/mimalloc-bench); "
                         "their rows are skipped when it holds none")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=LIB[,VAR=VALUE...]",
                    help="also run another build of a malloc library (LD_PRELOAD), e.g. "
                         "obmalloc built with different options, with environment "
                         "variables set (OBMALLOC_* options); LIB 'obpython', or the path "
                         "of another obpython build, runs that obpython (Python workloads "
                         "only); build/obpython-ft or build/python-ft runs that one on the "
                         "free-threaded rows; repeatable")
    ap.add_argument("--pyperformance", metavar="DIR", default=PYPERFORMANCE_DEFAULT,
                    help="bench/pyperf/run.py's results to show as the pyperformance row "
                         "(default: bench/results/pyperformance, when present; 'none' for none)")
    ap.add_argument("--list-mibench", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--render", metavar="CSV",
                    help="write the tables, targets and chart again from a suite.csv "
                         "of an earlier run, without running anything")
    args = ap.parse_args()
    if args.list_mibench:
        print(",".join(mibench_workloads(args.list_mibench, 2)))
        return
    runs = args.runs or (1 if args.quick else 5)
    all_wl = workloads(args.threads, args.quick, args.mibench)
    if not any(w.startswith("mb-") for w in all_wl):
        print("suite: mimalloc-bench's programs not built in %s: their rows skipped "
              "(make bench-mibench MIBENCH_SRC=<a mimalloc-bench checkout>)" % args.mibench,
              file=sys.stderr)
    # --quick keeps its few minutes: mimalloc-bench's programs take their
    # own time (malloc-large alone runs 75 s under mimalloc), so there the
    # look-alikes stand in; name mb-* rows to run them.
    if args.quick and not args.workloads:
        all_wl_default = {w: v for w, v in all_wl.items() if not w.startswith("mb-")}
    else:
        all_wl_default = all_wl
    chosen = [w for w in (args.workloads.split(",") if args.workloads else
                          [w for w in all_wl_default
                           if LOOKALIKE.get(w) not in all_wl_default]) if w]
    for w in chosen:
        if w not in all_wl:
            sys.exit("suite: unknown workload %s (have: %s)" % (w, ", ".join(all_wl)))
    wanted = args.allocators.split(",")
    allocs = allocators(wanted)
    obpython_variants = {}  # name -> (obpython binary, environment additions)
    for v in args.variant:
        name, _, spec = v.partition("=")
        lib, *settings = spec.split(",")
        env = dict(x.split("=", 1) for x in settings if "=" in x)
        if name and os.path.basename(lib) in ("obpython-ft", "python-ft") and os.path.exists(lib):
            FREE_THREADED[name] = os.path.abspath(lib)  # a free-threaded one, with settings
            FREE_THREADED_ENV[name] = env
        elif name and (lib == "obpython" or os.path.basename(lib).startswith("obpython")):
            obpython_variants[name] = (OBPYTHON if lib == "obpython" else os.path.abspath(lib), env)
        elif name and lib == "glibc" and len(env) == len(settings):
            allocs[name] = env  # the C library's malloc, with settings (GLIBC_TUNABLES)
        elif not name or not os.path.exists(lib) or len(env) != len(settings):
            sys.exit("suite: --variant wants NAME=LIB[,VAR=VALUE...] with an existing LIB: %s" % v)
        else:
            allocs[name] = dict(env, LD_PRELOAD=os.path.abspath(lib))
        wanted.insert(1, name)
    if "obpython" in wanted and not os.path.exists(OBPYTHON):
        print("suite: obpython not built: skipped", file=sys.stderr)
        wanted.remove("obpython")
    for a, binary in FREE_THREADED.items():
        if a in wanted and not os.path.exists(binary):
            print("suite: %s not built (make %s; it needs CPython 3.13.5's source tarball): "
                  "its rows skipped" % (a, a), file=sys.stderr)
            wanted.remove(a)
    names = [a for a in wanted if a in allocs or a in obpython_variants
             or a in ("pymalloc", "obpython") or a in FREE_THREADED]
    if not any(a in names for a in FREE_THREADED):
        chosen = [w for w in chosen if all_wl[w][2] != "ft"]

    results = {}  # (workload, allocator) -> [(wall, rss, sys, minor faults)]
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("LD_PRELOAD", "PYTHONMALLOC", "OBMALLOC_STATS")}
    rendered = read_rows(args.render) if args.render else None
    if rendered is not None:
        chosen = [w for w in dict.fromkeys(r[0] for r in rendered) if w in all_wl]
        names = list(dict.fromkeys(r[1] for r in rendered))
    for w in (chosen if rendered is None else []):
        desc, argv, kind = all_wl[w][:3]
        figure = all_wl[w][3] if len(all_wl[w]) > 3 else None
        tool = argv[0] if not argv[0].startswith("/") or os.path.exists(argv[0]) else None
        if argv[0] == "sh":
            tool = shutil.which("sqlite3")
        elif not os.path.isabs(argv[0]):
            tool = shutil.which(argv[0])
        if tool is not None and w == "cpython-tests" and subprocess.call(
                [tool, "-c", "import test.support, test.test_json"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
            print("suite: cpython-tests skipped: no test package "
                  "(apt-get install libpython3.11-testsuite)", file=sys.stderr)
            continue
        if tool is None:
            print("suite: %s skipped: %s not found" % (w, argv[0]), file=sys.stderr)
            continue
        checks = set()
        for r in range(runs):
            for a in names:
                run_argv = argv
                if (kind == "ft") != (a in FREE_THREADED):
                    continue
                if kind == "ft":
                    env = dict(base_env, **FREE_THREADED_ENV.get(a, {}))
                    run_argv = [FREE_THREADED[a]] + argv[1:]
                elif a in ("pymalloc", "obpython") or a in obpython_variants:
                    if kind != "py":
                        continue
                    binary, extra = obpython_variants.get(a, (OBPYTHON, {}))
                    env = dict(base_env, **extra)
                    if a != "pymalloc":
                        run_argv = [binary] + argv[1:]
                else:
                    env = dict(base_env, **allocs[a])
                    if kind == "py":
                        env["PYTHONMALLOC"] = "malloc"
                wall, rss, text, sys_s, faults = run_once(run_argv, env)
                if w in SELF_TIMED:
                    wall = float(text.split()[-2])
                elif figure is not None:
                    wall = figure(text)
                if kind not in ("mt", "mb"):
                    checks.add(tuple(check_of(text)))
                results.setdefault((w, a), []).append((wall, rss, sys_s, faults))
        if len(checks) > 1:
            sys.exit("suite: %s gave different results under different allocators: %s" % (w, checks))
        print("suite: %s done" % w, file=sys.stderr)

    os.makedirs(args.out, exist_ok=True)
    rows = rendered if rendered is not None else []
    for w in (chosen if rendered is None else []):
        # The ratios are to obmalloc, on the free-threaded rows to obpython-ft.
        ob = results.get((w, "obpython-ft" if all_wl[w][2] == "ft" else "obmalloc"))
        if not ob:
            continue
        ob_wall = statistics.median(x[0] for x in ob)
        ob_rss = statistics.median(x[1] for x in ob)
        for a in names:
            res = results.get((w, a))
            if not res:
                continue
            wall = statistics.median(x[0] for x in res)
            rss = statistics.median(x[1] for x in res)
            sys_s = statistics.median(x[2] for x in res)
            faults = statistics.median(x[3] for x in res)
            rows.append((w, a, wall, rss, wall / ob_wall, rss / ob_rss, sys_s, faults,
                         min(x[0] for x in res), max(x[0] for x in res)))

    with open(os.path.join(args.out, "suite.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["workload", "allocator", "median_wall_s", "median_peak_rss_mib",
                      "wall_ratio_to_obmalloc", "rss_ratio_to_obmalloc", "median_sys_s",
                      "median_minor_faults", "min_wall_s", "max_wall_s"])
        for r in rows:
            out.writerow([r[0], r[1], "%.4f" % r[2], "%.1f" % r[3], "%.3f" % r[4], "%.3f" % r[5],
                          "%.3f" % r[6], "%d" % r[7], "%.4f" % r[8], "%.4f" % r[9]])

    machine = "%s, %d cores, %s, Python %s; %s" % (
        platform.machine(), os.cpu_count(), platform.release(), platform.python_version(),
        time.strftime("%Y-%m-%d", time.gmtime()))
    if args.render:
        counted = rendered_header(args.render)
    else:
        counted = "Median of %d run(s)%s, %d threads for the multi-threaded workloads. " \
                  "Machine: %s" % (runs, " (quick mode)" if args.quick else "", args.threads,
                                   machine)
    md = ["# Benchmark results", "", counted + ".",
          "Each cell: wall time (ratio to obmalloc) / peak RSS (ratio to obmalloc). "
          "A ratio above 1 means obmalloc is faster or smaller.", ""]
    def time_cell(r):
        _, _, wall, rss, wr, rr = r[:6]
        shown = "%.2fs" % wall if wall >= 0.1 else "%.1fms" % (wall * 1000)
        return "%s (%.2f) / %.0fM (%.2f)" % (shown, wr, rss, rr)

    kernel_cell = lambda r: "%.2fs / %.0fk" % (r[6], r[7] / 1000.0)
    ft_rows = [w for w in chosen if all_wl[w][2] == "ft"]
    # (with --render, variants are known by the rows they ran)
    ft_names = [a for a in names if a in FREE_THREADED or
                any(r[1] == a and r[0] in ft_rows for r in rows)]
    main_rows = [w for w in chosen if w not in ft_rows]
    main_names = [a for a in names if a not in ft_names]
    if main_rows and main_names:
        md += table(rows, main_names, main_rows, time_cell)
        md += ["", "### The kernel's share", "",
               "System time in seconds / minor page faults (thousands), medians: what an "
               "allocator pays the kernel for mapping, purging and faulting memory in again.",
               ""]
        md += table(rows, main_names, main_rows, kernel_cell)
    if ft_rows:
        md += ["", "### Free-threaded CPython", "",
               "CPython 3.13.5 built with --disable-gil twice from one source: python-ft "
               "on its own mimalloc (stock), obpython-ft on obmalloc (make obpython-ft "
               "python-ft). Each cell as above, the ratios to obpython-ft (above 1: "
               "obpython-ft is faster or smaller); then system time / minor faults.", ""]
        md += table(rows, ft_names, ft_rows, time_cell)
        md += [""] + table(rows, ft_names, ft_rows, kernel_cell)
    md += ["", "### Against the targets", ""]
    md += targets(rows, {w: all_wl[w][2] for w in chosen})
    md += pyperformance_row(args.pyperformance)
    md += ["", "Workloads:", ""]
    for w in chosen:
        md.append("- **%s**: %s" % (w, all_wl[w][0]))
    text = "\n".join(md) + "\n"
    with open(os.path.join(args.out, "suite.md"), "w") as f:
        f.write(text)
    chart(rows, names, chosen, args.out)
    print(text)
    if args.docs:
        write_docs(text)


def table(rows, names, chosen, cell):
    """A markdown table, a line per workload, a column per allocator, each
    cell cell(row) (empty where the allocator did not run it)."""
    out = ["| workload | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for w in chosen:
        cells = []
        for a in names:
            r = [x for x in rows if x[0] == w and x[1] == a]
            cells.append(cell(r[0]) if r else "")
        if any(cells):
            out.append("| %s | %s |" % (w, " | ".join(cells)))
    return out


def rendered_header(csv_path):
    """For --render: the run's own line (runs, threads, machine, date) from
    the suite.md beside the CSV, else what can be said without it."""
    md = os.path.join(os.path.dirname(os.path.abspath(csv_path)), "suite.md")
    if os.path.exists(md):
        for line in open(md):
            if line.startswith("Median of "):
                return line.strip().rstrip(".")
    return "Medians as recorded in %s" % os.path.basename(csv_path)


def read_rows(path):
    """The rows of a suite.csv, as main() builds them."""
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append((r["workload"], r["allocator"], float(r["median_wall_s"]),
                         float(r["median_peak_rss_mib"]), float(r["wall_ratio_to_obmalloc"]),
                         float(r["rss_ratio_to_obmalloc"]), float(r.get("median_sys_s") or 0),
                         float(r.get("median_minor_faults") or 0),
                         float(r.get("min_wall_s") or r["median_wall_s"]),
                         float(r.get("max_wall_s") or r["median_wall_s"])))
    return rows


def targets(rows, kinds):
    """Each workload against the targets of docs/BENCHMARKS.md, plainly."""
    def ratio(w, a, col):
        r = [x for x in rows if x[0] == w and x[1] == a]
        return r[0][col] if r else None
    out = []
    for w, kind in kinds.items():
        if ratio(w, "obpython-ft" if kind == "ft" else "obmalloc", 4) is None:
            continue
        goals = []  # (description, ratio, must be above)
        if kind == "ft":  # issue 27: no slower and no bigger than the stock build
            goals.append(("obpython-ft at least as fast as python-ft", ratio(w, "python-ft", 4), 1.0))
            goals.append(("obpython-ft peak RSS no higher than python-ft's",
                          ratio(w, "python-ft", 5), 1.0))
        elif kind == "mb":  # issue 25: the real programs
            peers = [(ratio(w, p, 4), p) for p in ("glibc", "mimalloc", "jemalloc", "tcmalloc")]
            peers = [p for p in peers if p[0] is not None]
            if peers:
                best, who = min(peers)
                ob = [x for x in rows if x[0] == w and x[1] == "obmalloc"][0]
                peer = [x for x in rows if x[0] == w and x[1] == who][0]
                # Runs that overlap (obmalloc's fastest under the peer's
                # slowest) cannot tell the two apart on this machine.
                noise = " (%s; the runs' ranges overlap: within noise)" % who \
                    if best < 1.0 and ob[8] <= peer[9] else " (%s)" % who
                goals.append(("time at most the best peer's" + noise, best, 1.0))
            goals.append(("peak RSS at most mimalloc's", ratio(w, "mimalloc", 5), 1.0))
            if w in KERNEL_BOUND:
                ob = [x for x in rows if x[0] == w and x[1] == "obmalloc"][0]
                tc = [x for x in rows if x[0] == w and x[1] == "tcmalloc"]
                if tc:
                    bound = KERNEL_BOUND[w]
                    goals.append(("minor faults within %gx tcmalloc's" % bound,
                                  bound * tc[0][7] / max(ob[7], 1), 1.0))
                    goals.append(("system time within %gx tcmalloc's" % bound,
                                  bound * tc[0][6] / max(ob[6], 1e-3), 1.0))
        elif kind == "mt":
            goals.append(("within 10% of mimalloc", ratio(w, "mimalloc", 4), 1 / 1.1))
            for peer in ("jemalloc", "tcmalloc", "glibc"):
                goals.append(("ahead of " + peer, ratio(w, peer, 4), 1.0))
        else:
            goals.append(("faster than glibc", ratio(w, "glibc", 4), 1.0))
            goals.append(("no slower than mimalloc", ratio(w, "mimalloc", 4), 1.0))
            goals.append(("peak RSS no higher than glibc's", ratio(w, "glibc", 5), 1.0))
        if w == "region":  # issue 16: a destroy costs per pool, not per block
            free = [x for x in rows if x[0] == "region-free" and x[1] == "obmalloc"]
            if free:
                goals.append(("destroy at least 10x faster than obmalloc's frees one by one",
                              free[0][2] / ratio(w, "obmalloc", 2), 10.0))
        if kind == "py":
            goals.append(("faster than pymalloc", ratio(w, "pymalloc", 4), 1.0))
            goals.append(("peak RSS no higher than pymalloc's", ratio(w, "pymalloc", 5), 1.0))
            py, ob = ratio(w, "pymalloc", 2), ratio(w, "obpython", 2)
            if py and ob:  # issue 7: obpython against pymalloc, same interpreter
                goals.append(("obpython faster than pymalloc", py / ob, 1.0))
                goals.append(("obpython peak RSS no higher than pymalloc's",
                              ratio(w, "pymalloc", 3) / ratio(w, "obpython", 3), 1.0))
            if w == "py-bigheap":  # issue 11: ahead, not level, on the big heap
                goals.append(("at least 1.05x pymalloc's speed", ratio(w, "pymalloc", 4), 1.05))
                if py and ob:
                    goals.append(("obpython at least 1.05x pymalloc's speed", py / ob, 1.05))
        met = [g for g, r, floor in goals if r is not None and r >= floor]
        missed = ["%s (%.2f)" % (g, r) for g, r, floor in goals if r is not None and r < floor]
        if not met and not missed:
            out.append("- **%s**: no peer of the targets in this run." % w)
            continue
        out.append("- **%s**: %s%s" % (w, "missed: " + "; ".join(missed) + ". " if missed else "all met. ",
                                       "Met: " + "; ".join(met) + "." if missed and met else ""))
    return out


def pyperformance_row(folder):
    """The pyperformance row: bench/pyperf/run.py's ratios to pymalloc, per
    benchmark and as geometric means, against issue 25's targets."""
    csv_path = os.path.join(folder or "", "pyperformance.csv")
    if not folder or folder == "none" or not os.path.exists(csv_path):
        return []
    by = {}  # benchmark -> interpreter -> (mean ratio, min ratio)
    with open(csv_path, newline="") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["benchmark"], {})[r["interpreter"]] = (
                float(r["mean_ratio_to_pymalloc"]), float(r["min_ratio_to_pymalloc"]))
    meta_path = os.path.join(folder, "pyperformance.meta")
    meta = open(meta_path).read().strip() if os.path.exists(meta_path) else "date unknown"
    interps = ("obpython", "drop-in")

    def geo(i, k):
        xs = [v[i][k] for v in by.values() if i in v]
        return statistics.geometric_mean(xs) if xs else float("nan")
    out = ["", "### pyperformance", "",
           "CPython's own benchmark programs, pure-Python ones (bench/pyperf/run.py, `make "
           "bench-pyperformance`; not rerun by this suite): %s. Each cell: time as a ratio to "
           "pymalloc's, by mean / by minimum (below 1: faster than pymalloc)." % meta, "",
           "| benchmark | obpython | drop-in |", "|---|---:|---:|"]
    for b in sorted(by):
        out.append("| %s | %s |" % (b, " | ".join(
            "%.3f / %.3f" % by[b][i] if i in by[b] else "" for i in interps)))
    out.append("| **geometric mean** (%d) | %s |" % (len(by), " | ".join(
        "**%.3f / %.3f**" % (geo(i, 0), geo(i, 1)) for i in interps)))
    out += ["", "Against the targets (obpython at least 5% faster than pymalloc on the "
            "geometric mean of the means, no benchmark more than 5% slower):", ""]
    for i in interps:
        g = geo(i, 0)
        worse = sorted(((v[i][0], b) for b, v in by.items()
                        if i in v and v[i][0] > PYPERFORMANCE_WORST), reverse=True)
        out.append("- **%s**: geometric mean %.3f (%s); %s." % (
            i, g, "met" if g <= PYPERFORMANCE_GEOMEAN else "missed",
            "no benchmark more than 5%% slower" if not worse else
            "%d more than 5%% slower: %s" % (len(worse), ", ".join(
                "%s %.3f (by minimum %.3f)" % (b, r, by[b][i][1]) for r, b in worse))))
    return out


def chart(rows, names, chosen, out):
    """A PNG of the wall-time ratios to obmalloc, one group per workload."""
    if not shutil.which("gnuplot"):
        print("suite: gnuplot not installed (apt-get install gnuplot-nox): no chart", file=sys.stderr)
        return
    peers = [a for a in names if a != "obmalloc" and a not in FREE_THREADED]
    chosen = [w for w in chosen if not w.startswith("ft-")]
    if not peers:  # the chart is of ratios to obmalloc: nothing to draw
        print("suite: obmalloc alone: no chart", file=sys.stderr)
        return
    data = os.path.join(out, "suite.dat")
    with open(data, "w") as f:
        f.write("workload " + " ".join(peers) + "\n")
        for w in chosen:
            vals = []
            for a in peers:
                r = [x for x in rows if x[0] == w and x[1] == a]
                vals.append("%.3f" % r[0][4] if r else "-")
            f.write(w + " " + " ".join(vals) + "\n")
    script = """
set terminal pngcairo size 1100,500 noenhanced
set output '%s'
set title 'Wall time of each allocator relative to obmalloc (above 1: obmalloc is faster)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set datafile missing '-'
set yrange [0:*]
set grid ytics
set xtics rotate by -30
set key top right
plot %s, 1 with lines lw 2 lc rgb 'black' title 'obmalloc'
""" % (os.path.join(out, "suite.png"),
       ", ".join("'%s' using %d:xtic(1) title '%s'" % (data, i + 2, p) for i, p in enumerate(peers)))
    subprocess.run(["gnuplot"], input=script.encode(), check=False)


def write_docs(results_md):
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    head = open(os.path.join(ROOT, "bench", "BENCHMARKS.head.md")).read()
    with open(path, "w") as f:
        f.write(head.rstrip() + "\n\n" + results_md.replace("# Benchmark results", "## Latest results", 1))
        f.write("\n![wall-time ratios](../bench/results/suite.png)\n")


if __name__ == "__main__":
    main()
