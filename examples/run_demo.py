"""make run: CPython running examples/workload.py three ways.

  obmalloc  PYTHONMALLOC=malloc with libobmalloc.so preloaded: every object
            and buffer comes from obmalloc
  pymalloc  CPython as shipped: pymalloc for objects up to 512 bytes,
            glibc above
  glibc     PYTHONMALLOC=malloc: everything from glibc malloc

Each runs RUNS times (interleaved, so noise hits them alike); the table
shows the median wall time and the median peak RSS (from wait4), each also
as a ratio to obmalloc.  All runs must print the same checksum.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(argv, env):
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit("run_demo: %s failed with status %d" % (" ".join(argv), status))
    return wall, usage.ru_maxrss / 1024.0, out.decode().strip()


def main():
    lib = os.path.join(ROOT, "build", "libobmalloc.so")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    records = os.environ.get("RECORDS", "60000")
    runs = int(os.environ.get("RUNS", "3"))
    argv = [python, os.path.join(HERE, "workload.py"), records]
    base = dict(os.environ)
    for k in ("LD_PRELOAD", "PYTHONMALLOC", "OBMALLOC_STATS"):
        base.pop(k, None)
    configs = [
        ("obmalloc", dict(base, LD_PRELOAD=lib, PYTHONMALLOC="malloc")),
        ("pymalloc", dict(base)),
        ("glibc", dict(base, PYTHONMALLOC="malloc")),
    ]
    print("CPython %s, workload.py %s records, median of %d runs each\n"
          % (subprocess.check_output([python, "-c", "import sys; print(sys.version.split()[0])"]).decode().strip(),
             records, runs))
    results = {name: [] for name, _ in configs}
    outputs = set()
    for _ in range(runs):
        for name, env in configs:
            wall, rss, out = run(argv, env)
            results[name].append((wall, rss))
            outputs.add(out)
    if len(outputs) != 1:
        sys.exit("run_demo: the runs disagree: %s" % outputs)
    ob_wall = statistics.median(w for w, _ in results["obmalloc"])
    ob_rss = statistics.median(r for _, r in results["obmalloc"])
    print("| allocator | wall time | vs obmalloc | peak RSS | vs obmalloc |")
    print("|---|---:|---:|---:|---:|")
    for name, _ in configs:
        wall = statistics.median(w for w, _ in results[name])
        rss = statistics.median(r for _, r in results[name])
        print("| %s | %.2f s | %.2fx | %.1f MiB | %.2fx |"
              % (name, wall, wall / ob_wall, rss, rss / ob_rss))
    print("\nEvery run printed: %s" % outputs.pop())

    # One more obmalloc run, for its statistics at exit.
    stats_file = os.path.join(ROOT, "build", "run_demo_stats.txt")
    run(argv, dict(configs[0][1], OBMALLOC_STATS="1", OBMALLOC_STATS_FILE=stats_file))
    with open(stats_file) as f:
        report = f.read()
    print("\nobmalloc's statistics at the end of one run (OBMALLOC_STATS=1):\n")
    print(report)


if __name__ == "__main__":
    main()
