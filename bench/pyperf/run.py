#!/usr/bin/env python3
"""pyperformance's pure-Python benchmarks under pyperf, on three CPythons:
python3 on its own pymalloc, obpython (CPython on obmalloc) and python3 on
the drop-in (LD_PRELOAD=build/libobmalloc.so, PYTHONMALLOC=malloc).

    bench/pyperf/run.py --pyperformance SRC --pyperf SRC [--out DIR]
                        [--benchmarks a,b,...] [--rigorous] [--rounds N]

SRC: a checkout of github.com/python/pyperformance and of
github.com/psf/pyperf (work trees or git directories, brought in by hand).
Both are copied outside the project (~/.cache/obmalloc/pyperformance,
keyed by their commits) and never committed.  The benchmarks are those
that need no third-party package (no requirements.txt), with their
variants (a folder's bm_<name>.toml files: pickle_dict, unpickle_list,
async_tree_io...), each run by its own run_benchmark.py with the
variant's extra_opts, in pyperf's fast mode (--rigorous for its full
mode).  The interpreters are interleaved benchmark by benchmark, and with
--rounds N the whole pass is made N times, every value pooled: noise on
this shared machine then falls on the three alike.  Writes
DIR/pyperformance.{md,csv} and DIR/pyperformance.meta: per benchmark the
mean and minimum of each interpreter, each as a ratio to pymalloc's (below
1: faster than pymalloc), and the geometric means; bench/suite.py
--pyperformance DIR puts them in the suite's tables.  A benchmark that
fails under any of the three (for example one that needs a newer Python)
is reported and left out of the means.
"""
import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "obmalloc", "pyperformance")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from suite import python3  # noqa: E402  (the interpreter obpython embeds)


def pure_benchmarks(src):
    """pyperformance's benchmark folders with no requirements.txt, in the
    git directory src."""
    base = "pyperformance/data-files/benchmarks"
    ls = subprocess.run(["git", "--git-dir", src, "ls-tree", "-r", "--name-only", "HEAD", base],
                        capture_output=True, text=True).stdout.split()
    dirs = {p.split("/")[3] for p in ls if p.split("/")[3].startswith("bm_")}
    reqs = {p.split("/")[3] for p in ls if p.endswith("/requirements.txt")}
    return ["%s/%s" % (base, d) for d in sorted(dirs - reqs)]


def export(src, sub, dest):
    """A copy of the tree at src (work tree, or git directory's HEAD) in
    dest; returns its commit (or 'worktree').  From a git directory,
    pyperformance's pure-Python benchmarks only, one folder at a time (a
    snapshot may lack the big data files of the others)."""
    if os.path.isdir(os.path.join(src, sub)):
        rev = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                             text=True).stdout.strip() or "worktree"
        if os.path.exists(dest):
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".git"))
        return rev
    rev = subprocess.run(["git", "--git-dir", src, "rev-parse", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    if not rev:
        sys.exit("run.py: %s is neither a checkout with %s/ nor a git directory" % (src, sub))
    stamp = dest + ".stamp"
    if os.path.exists(stamp) and open(stamp).read() == rev:
        return rev
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    parts = pure_benchmarks(src) if sub == "pyperformance" else [sub]
    for part in parts:
        archive = subprocess.run(["git", "--git-dir", src, "archive", "HEAD", part],
                                 capture_output=True)
        if archive.returncode != 0:
            print("run.py: %s not in the snapshot: skipped" % part, file=sys.stderr)
            continue
        subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    with open(stamp, "w") as f:
        f.write(rev)
    return rev


def variants(bench_dir, folder):
    """(name, extra arguments) of a benchmark folder and of its variants:
    pyproject.toml names the folder's own benchmark, each bm_<name>.toml
    a variant; both may give extra_opts, the arguments its
    run_benchmark.py needs (pickle's "pickle", "pickle_dict"...)."""
    def read(path):
        text = open(path).read()
        name = re.search(r'^name\s*=\s*"([^"]+)"', text.split("[tool.pyperformance]")[-1], re.M)
        opts = re.search(r'^extra_opts\s*=\s*\[([^\]]*)\]', text, re.M)
        extra = re.findall(r'"([^"]*)"', opts.group(1)) if opts else []
        return (name.group(1) if name else None), extra
    d = os.path.join(bench_dir, folder)
    out = []
    own, extra = read(os.path.join(d, "pyproject.toml")) \
        if os.path.exists(os.path.join(d, "pyproject.toml")) else (None, [])
    out.append((own or folder[3:], extra))
    for f in sorted(os.listdir(d)):
        # A variant is known by its file's name, as in pyperformance's
        # MANIFEST (bm_btree_gc_only.toml is btree_gc_only, whatever its
        # name field says); one that repeats a name already taken is not
        # in the MANIFEST (bm_btree/bm_btree.toml).
        if f.startswith("bm_") and f.endswith(".toml") and f[3:-5] not in dict(out):
            out.append((f[3:-5], read(os.path.join(d, f))[1]))
    return out


def values(path):
    """Every value of every run of every benchmark in a pyperf JSON file."""
    with open(path) as f:
        data = json.load(f)
    out = []
    for bench in data.get("benchmarks", []):
        for run in bench.get("runs", []):
            out.extend(run.get("values", []))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pyperformance", required=True)
    ap.add_argument("--pyperf", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "pyperformance"))
    ap.add_argument("--benchmarks", default="")
    ap.add_argument("--rigorous", action="store_true")
    ap.add_argument("--rounds", type=int, default=1,
                    help="passes over every benchmark and interpreter, values pooled")
    args = ap.parse_args()

    os.makedirs(CACHE, exist_ok=True)
    perf_rev = export(args.pyperf, "pyperf", os.path.join(CACHE, "pyperf"))
    pp_rev = export(args.pyperformance, "pyperformance", os.path.join(CACHE, "pyperformance"))
    bench_dir = os.path.join(CACHE, "pyperformance", "pyperformance", "data-files", "benchmarks")
    folders = sorted(d for d in os.listdir(bench_dir)
                     if d.startswith("bm_")
                     and os.path.exists(os.path.join(bench_dir, d, "run_benchmark.py"))
                     and not os.path.exists(os.path.join(bench_dir, d, "requirements.txt")))
    # name -> (folder, extra arguments), names without pyperformance's bm_
    benchmarks = {}
    for d in folders:
        for name, extra in variants(bench_dir, d):
            benchmarks[name] = (d, extra)
    names = sorted(benchmarks)
    if args.benchmarks:
        wanted = set(b[3:] if b.startswith("bm_") else b for b in args.benchmarks.split(","))
        unknown = wanted - set(names)
        if unknown:
            sys.exit("run.py: no such benchmark: %s" % ", ".join(sorted(unknown)))
        names = [n for n in names if n in wanted]
    py = python3()
    obpython = os.path.join(BUILD, "obpython")
    lib = os.path.join(BUILD, "libobmalloc.so")
    for need in (obpython, lib):
        if not os.path.exists(need):
            sys.exit("run.py: %s not built (make build)" % need)
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("LD_PRELOAD", "PYTHONMALLOC") and not k.startswith("OBMALLOC_")}
    base_env["PYTHONPATH"] = os.path.join(CACHE, "pyperf")
    interps = {
        "pymalloc": (py, {}),
        "obpython": (obpython, {}),
        "drop-in": (py, {"LD_PRELOAD": lib, "PYTHONMALLOC": "malloc"}),
    }
    mode = "--rigorous" if args.rigorous else "--fast"
    results, failed = {}, {}
    tmp = tempfile.mkdtemp()
    for rnd in range(args.rounds):
        for n in names:
            if n in failed:
                continue
            folder, opts = benchmarks[n]
            for name, (binary, extra) in interps.items():
                out = os.path.join(tmp, "%s-%s-%d.json" % (n, name, rnd))
                env = dict(base_env, **extra)
                cmd = [binary, os.path.join(bench_dir, folder, "run_benchmark.py"), mode,
                       "--quiet", "--inherit-environ", "LD_PRELOAD,PYTHONMALLOC", "-o", out] + opts
                start = time.monotonic()
                proc = subprocess.run(cmd, env=env, cwd=os.path.join(bench_dir, folder),
                                      capture_output=True, text=True)
                if proc.returncode != 0 or not os.path.exists(out):
                    failed.setdefault(n, "%s: %s" % (name, (proc.stderr or proc.stdout).strip()
                                                     .splitlines()[-1:] or "no output"))
                    break
                results.setdefault((n, name), []).extend(values(out))
                print("pyperformance: round %d/%d %s %s %.1f s" % (
                    rnd + 1, args.rounds, n, name, time.monotonic() - start), file=sys.stderr)
            # What is done so far is on disk: a long run cut short keeps it.
            report(args, names, interps, results, failed, mode, pp_rev, perf_rev, py,
                   " (in progress: round %d of %d, at %s)" % (rnd + 1, args.rounds, n))
    shutil.rmtree(tmp, ignore_errors=True)

    text = report(args, names, interps, results, failed, mode, pp_rev, perf_rev, py, "")
    print(text)


def report(args, names, interps, results, failed, mode, pp_rev, perf_rev, py, progress):
    """Writes the results so far (DIR/pyperformance.{csv,md,meta}) and
    returns the markdown; progress says how far the run got."""
    done = [n for n in names if n not in failed and all((n, i) in results for i in interps)]
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for n in done:
        py_mean = statistics.mean(results[(n, "pymalloc")])
        py_min = min(results[(n, "pymalloc")])
        for name in interps:
            v = results[(n, name)]
            rows.append((n, name, statistics.mean(v), min(v),
                         statistics.mean(v) / py_mean, min(v) / py_min))
    with open(os.path.join(args.out, "pyperformance.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "interpreter", "mean_s", "min_s", "mean_ratio_to_pymalloc",
                    "min_ratio_to_pymalloc"])
        for r in rows:
            w.writerow([r[0], r[1], "%.6f" % r[2], "%.6f" % r[3], "%.4f" % r[4], "%.4f" % r[5]])

    def geo(name, col):
        rs = [r[col] for r in rows if r[1] == name]
        return statistics.geometric_mean(rs) if rs else float("nan")

    meta = "pyperformance %s, pyperf %s, pyperf's %s mode, %d round(s); %s (pymalloc), " \
           "obpython, and the drop-in (LD_PRELOAD, PYTHONMALLOC=malloc); %s" % (
               pp_rev[:12], perf_rev[:12], mode[2:], args.rounds, py,
               time.strftime("%Y-%m-%d", time.gmtime())) + progress
    with open(os.path.join(args.out, "pyperformance.meta"), "w") as f:
        f.write(meta + "\n")
    md = ["# pyperformance: pure-Python benchmarks", "",
          meta + ". Each cell: mean time, and its ratio "
          "to pymalloc's by mean / by minimum (below 1: faster than pymalloc).",
          "", "| benchmark | pymalloc | obpython | drop-in |", "|---|---:|---:|---:|"]
    for n in done:
        cells = []
        for name in interps:
            r = [x for x in rows if x[0] == n and x[1] == name][0]
            t = ("%.1f us" % (r[2] * 1e6) if r[2] < 1e-3 else
                 "%.1f ms" % (r[2] * 1e3) if r[2] < 1 else "%.2f s" % r[2])
            cells.append(t if name == "pymalloc" else "%s (%.3f / %.3f)" % (t, r[4], r[5]))
        md.append("| %s | %s |" % (n, " | ".join(cells)))
    md.append("| **geometric mean** | 1 | %.3f / %.3f | %.3f / %.3f |" % (
        geo("obpython", 4), geo("obpython", 5), geo("drop-in", 4), geo("drop-in", 5)))
    worst = {name: max((r for r in rows if r[1] == name), key=lambda r: r[4], default=None)
             for name in ("obpython", "drop-in")}
    md += ["", "Slowest against pymalloc (by mean): " + "; ".join(
        "%s %s %.3f" % (k, w[0], w[4]) for k, w in worst.items() if w) + "."]
    if failed:
        md += ["", "Left out (failed under one of the interpreters): " +
               "; ".join("%s (%s)" % (n, why) for n, why in failed.items())]
    text = "\n".join(md) + "\n"
    with open(os.path.join(args.out, "pyperformance.md"), "w") as f:
        f.write(text)
    return text


if __name__ == "__main__":
    main()
