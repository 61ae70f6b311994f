#!/usr/bin/env python3
"""Throughput against threads, for each allocator: the larson and xmalloc
shapes (bench/workloads/) at 1, 2, 4, 8 and 16 threads.

    bench/scaling.py [--runs N] [--threads 1,2,4,8,16] [--out DIR]

Each point is the median of N runs (interleaved: every allocator runs once
before any runs again).  Work per thread is fixed, so a flat line is
perfect scaling.  xmalloc runs producer/consumer pairs: its thread count is
twice the pairs, and it starts at 2 threads.  The machine's core count is
printed on the plot: past it, threads share cores (oversubscription), and
the curves measure how an allocator copes with threads preempted in the
middle of its work, not parallel speed-up.

Writes DIR/scaling.csv, DIR/scaling.md and DIR/scaling.png (gnuplot).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402  (the allocators, run_once)

WL = os.path.join(suite.BUILD, "bench")


def shapes(threads):
    """name -> (argv, operations) for a thread count, or None."""
    out = {"larson": ([os.path.join(WL, "wl_larson"), str(threads), "10", "200000"],
                      threads * 10 * 200000)}
    if threads >= 2 and threads % 2 == 0:
        pairs = threads // 2
        per = 1000000
        # Rounded down to whole batches of 256 by the program.
        out["xmalloc"] = ([os.path.join(WL, "wl_xmalloc"), str(pairs), str(per)],
                          pairs * (per // 256) * 256)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--allocators", default="obmalloc,mimalloc,jemalloc,tcmalloc,glibc")
    ap.add_argument("--out", default=os.path.join(suite.ROOT, "bench", "results"))
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    allocs = suite.allocators(args.allocators.split(","))
    names = [a for a in args.allocators.split(",") if a in allocs]
    times = {}  # (shape, threads, alloc) -> [seconds]
    for run in range(args.runs):
        for t in threads:
            for shape, (argv, ops) in shapes(t).items():
                for a in names:
                    env = dict(os.environ, **allocs[a])
                    wall, rss, text = suite.run_once(argv, env)[:3]
                    # The program's own timing of its work (no start-up).
                    secs = float(text.split()[2]) if text.startswith("result ") else wall
                    times.setdefault((shape, t, a), []).append(secs)
        print("scaling: run %d of %d done" % (run + 1, args.runs), file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for (shape, t, a), secs in sorted(times.items()):
        ops = shapes(t)[shape][1]
        med = statistics.median(secs)
        rows.append((shape, t, a, med, ops / med / 1e6))
    with open(os.path.join(args.out, "scaling.csv"), "w") as f:
        f.write("shape,threads,allocator,seconds,mops_per_s\n")
        for r in rows:
            f.write("%s,%d,%s,%.4f,%.3f\n" % r)
    cores = os.cpu_count() or 1
    with open(os.path.join(args.out, "scaling.md"), "w") as f:
        f.write("# Throughput against threads\n\n")
        f.write("Millions of malloc/free operations per second (larson: steps; xmalloc: "
                "objects made and freed), median of %d interleaved runs, %d cores: past %d "
                "threads they share cores. Command: `bench/scaling.py`.\n\n"
                % (args.runs, cores, cores))
        for shape in ("larson", "xmalloc"):
            ts = sorted({r[1] for r in rows if r[0] == shape})
            f.write("| %s threads | %s |\n|---|%s\n" % (shape, " | ".join(names),
                                                        "---:|" * len(names)))
            for t in ts:
                cells = []
                for a in names:
                    r = [x for x in rows if x[0] == shape and x[1] == t and x[2] == a]
                    cells.append("%.1f" % r[0][4] if r else "-")
                f.write("| %d | %s |\n" % (t, " | ".join(cells)))
            f.write("\n")
    plot(rows, names, args.out, cores)


def plot(rows, names, out, cores):
    if not shutil.which("gnuplot"):
        print("scaling: gnuplot not installed (apt-get install gnuplot-nox): no plot",
              file=sys.stderr)
        return
    files = {}
    for shape in ("larson", "xmalloc"):
        for a in names:
            path = os.path.join(out, "scaling-%s-%s.dat" % (shape, a))
            with open(path, "w") as f:
                for r in rows:
                    if r[0] == shape and r[2] == a:
                        f.write("%d %.3f\n" % (r[1], r[4]))
            files[(shape, a)] = path
    panels = []
    for shape in ("larson", "xmalloc"):
        panels.append("""
set title '%s-shaped: throughput against threads%s'
plot %s""" % (shape, " (pairs: 2 threads each)" if shape == "xmalloc" else "", ", ".join("'%s' using 1:2 with linespoints lw 2 title '%s'"
                                % (files[(shape, a)], a) for a in names)))
    script = """
set terminal pngcairo size 1300,520 noenhanced
set output '%s'
set multiplot layout 1,2 title 'This machine has %d cores: past %d threads (dashed line) threads share cores: oversubscription, not speed-up'
set logscale x 2
set xtics (1, 2, 4, 8, 16)
set xrange [0.8:20]
set yrange [0:*]
set grid
set xlabel 'threads'
set ylabel 'million operations per second'
set key bottom left
set arrow from %d, graph 0 to %d, graph 1 nohead dt 2 lc rgb 'gray'
%s
unset multiplot
""" % (os.path.join(out, "scaling.png"), cores, cores, cores, cores, "\n".join(panels))
    subprocess.run(["gnuplot"], input=script.encode(), check=False)
    for path in files.values():
        os.remove(path)


if __name__ == "__main__":
    main()
