"""make run: CPython running examples/workload.py four ways.

  obpython  build/obpython: the same CPython with obmalloc serving its
            memory domains through PEP 445 (no other change)
  obmalloc  python3 with PYTHONMALLOC=malloc and libobmalloc.so preloaded:
            every object and buffer comes from obmalloc, through malloc
  pymalloc  python3 as shipped: pymalloc for objects up to 512 bytes,
            glibc above
  glibc     python3 with PYTHONMALLOC=malloc: everything from glibc malloc

python3 is the interpreter obpython embeds (build/obpython.python).  Each
runs RUNS times, interleaved (round 1 runs all four, then round 2...), so
that a slow minute on a shared machine hits them alike.  The table gives
each the median wall time with the range of its runs, and the median peak
RSS (from wait4).  A row is called faster or slower than obpython only when
the two ranges do not overlap; with 5 runs each, pure noise does that one
time in 126 (two orders out of the 252 equally likely ones), so anything
less is "within noise".  All runs must print the same checksum.

Then a short extract of obmalloc's statistics for one run (the full report
is in build/run_demo_stats.txt) and the regions example.

    RUNS=5 RECORDS=40000 BUILD=build python3 examples/run_demo.py
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))

# Below this many runs each, even ranges that do not overlap happen by
# chance too often (3 runs: one time in 10) to call a winner.
MIN_RUNS_FOR_VERDICT = 4


def run(argv, env):
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit("run_demo: %s failed with status %d" % (" ".join(argv), status))
    return wall, usage.ru_maxrss / 1024.0, out.decode().strip()


def verdict(times, base):
    """How `times` compares with `base` (lists of wall times)."""
    if len(times) < MIN_RUNS_FOR_VERDICT or len(base) < MIN_RUNS_FOR_VERDICT:
        return "too few runs to tell"
    ratio = statistics.median(times) / statistics.median(base)
    if max(times) < min(base):
        return "faster (%.2fx)" % ratio
    if min(times) > max(base):
        return "slower (%.2fx)" % ratio
    return "within noise"


def bar_chart(rows, width=40):
    """Lines of a horizontal bar chart: rows are (name, [times]).  The solid
    bar reaches the fastest run, the shaded part covers the spread up to the
    slowest, and the median is printed after it."""
    top = max(max(t) for _, t in rows)
    scale = width / top if top > 0 else 0
    name_w = max(len(n) for n, _ in rows)
    lines = []
    for name, times in rows:
        solid = int(round(min(times) * scale))
        shade = max(int(round(max(times) * scale)) - solid, 0)
        bar = "\u2588" * solid + "\u2591" * shade
        lines.append("  %-*s %-*s %.2f s" % (name_w, name, width, bar, statistics.median(times)))
    return lines


def short_report(report, top=5):
    """The part of a statistics report a newcomer reads first: the summary
    lines and the `top` size classes with the most mallocs."""
    lines = report.splitlines()
    header = next((i for i, l in enumerate(lines) if l.startswith("class ")), None)
    if header is None:
        return lines, 0
    classes = []
    i = header + 1
    while i < len(lines) and lines[i].strip():
        fields = lines[i].split()
        if len(fields) == 9 and fields[0].isdigit():
            classes.append((int(fields[7]), lines[i]))
        i += 1
    busiest = [l for _, l in sorted(classes, key=lambda c: -c[0])[:top]]
    summary = [l for l in lines[i:] if l.startswith(("arenas:", "bytes:", "memory return:", "huge pages:"))]
    return [lines[0], "", lines[header]] + busiest + [""] + summary, len(classes)


class Progress:
    """One line that says how far the measuring is (rewritten in place on a
    terminal, one line per round otherwise)."""

    def __init__(self, total):
        self.total, self.done, self.tty = total, 0, sys.stdout.isatty()
        self.start = time.monotonic()

    def step(self, round_no, rounds, name):
        self.done += 1
        if self.tty:
            elapsed = time.monotonic() - self.start
            left = elapsed / self.done * (self.total - self.done)
            sys.stdout.write("\r  measuring: round %d of %d, %-8s  (%d of %d runs, about %.0f s left) "
                             % (round_no, rounds, name, self.done, self.total, left))
            sys.stdout.flush()
        elif self.done % (self.total // rounds) == 0:
            print("  measuring: round %d of %d done" % (round_no, rounds), flush=True)

    def finish(self):
        if self.tty:
            sys.stdout.write("\r" + " " * 78 + "\r")
            sys.stdout.flush()


def main():
    lib = os.path.join(BUILD, "libobmalloc.so")
    obpython = os.path.join(BUILD, "obpython")
    try:
        with open(os.path.join(BUILD, "obpython.python")) as f:
            python = f.read().strip()
    except OSError:
        obpython = None  # not built (no python3 development files)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    records = os.environ.get("RECORDS", "40000")
    runs = int(os.environ.get("RUNS", "5"))
    argv = [python, os.path.join(HERE, "workload.py"), records]
    base = dict(os.environ)
    for k in ("LD_PRELOAD", "PYTHONMALLOC", "OBMALLOC_STATS"):
        base.pop(k, None)
    configs = [
        ("obmalloc", dict(base, LD_PRELOAD=lib, PYTHONMALLOC="malloc"), argv),
        ("pymalloc", dict(base), argv),
        ("glibc", dict(base, PYTHONMALLOC="malloc"), argv),
    ]
    if obpython:
        configs.insert(0, ("obpython", dict(base), [obpython] + argv[1:]))
    else:
        print("run_demo: obpython was not built (see the cmake output): its row is missing\n")
    version = subprocess.check_output([python, "-c", "import sys; print(sys.version.split()[0])"]).decode().strip()
    print("CPython %s runs examples/workload.py (%s records) on %d allocators, %d interleaved rounds"
          % (version, records, len(configs), runs), flush=True)
    results = {name: [] for name, _, _ in configs}
    outputs = set()
    progress = Progress(runs * len(configs))
    for round_no in range(1, runs + 1):
        for name, env, cmd in configs:
            wall, rss, out = run(cmd, env)
            results[name].append((wall, rss))
            outputs.add(out)
            progress.step(round_no, runs, name)
    progress.finish()
    if len(outputs) != 1:
        sys.exit("run_demo: the runs disagree: %s" % outputs)

    first = configs[0][0]
    walls = {name: [w for w, _ in results[name]] for name, _, _ in configs}
    first_rss = statistics.median(r for _, r in results[first])
    print("\n| allocator | wall time, median | range of %d runs | against %s | peak RSS | vs %s |"
          % (runs, first, first))
    print("|---|---:|---:|---|---:|---:|")
    for name, _, _ in configs:
        w = walls[name]
        rss = statistics.median(r for _, r in results[name])
        against = "(the baseline)" if name == first else verdict(w, walls[first])
        print("| %s | %.2f s | %.2f-%.2f s | %s | %.1f MiB | %.2fx |"
              % (name, statistics.median(w), min(w), max(w), against, rss, rss / first_rss))
    print("\nWall time (\u2588 up to the fastest run, \u2591 across the spread to the slowest; median after):")
    for line in bar_chart([(name, walls[name]) for name, _, _ in configs]):
        print(line)
    print("\nA row is faster or slower only when its range and %s's do not overlap; timings on a"
          "\nshared machine swing 10-20 %% between minutes.  Every run printed: %s"
          % (first, outputs.pop()))

    # One more run, for obmalloc's statistics at exit.
    stats_file = os.path.join(BUILD, "run_demo_stats.txt")
    name, env, cmd = configs[0]
    run(cmd, dict(env, OBMALLOC_STATS="1", OBMALLOC_STATS_FILE=stats_file))
    with open(stats_file) as f:
        lines, nclasses = short_report(f.read())
    print("\nobmalloc's statistics at the exit of one %s run, the %d busiest of %d size classes"
          "\n(OBMALLOC_STATS=1; the full report, with where every mapped byte goes: %s):\n"
          % (name, min(5, nclasses), nclasses, os.path.relpath(stats_file)))
    for line in lines:
        print("  " + line if line else "")

    # Regions (ob_region_*): a parser's trees dropped whole.
    parser = os.path.join(BUILD, "examples", "region_parser")
    if os.path.exists(parser):
        print("\nRegions (examples/region_parser.c): each document's tree built in a region "
              "of its own\nand dropped at once, against freeing it node by node:\n")
        for line in subprocess.check_output([parser]).decode().rstrip().splitlines():
            print("  " + line)


if __name__ == "__main__":
    main()
