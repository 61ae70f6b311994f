"""make run: CPython running examples/workload.py four ways.

  obpython  build/obpython: the same CPython with obmalloc serving its
            memory domains through PEP 445 (no other change)
  obmalloc  python3 with PYTHONMALLOC=malloc and libobmalloc.so preloaded:
            every object and buffer comes from obmalloc, through malloc
  pymalloc  python3 as shipped: pymalloc for objects up to 512 bytes,
            glibc above
  glibc     python3 with PYTHONMALLOC=malloc: everything from glibc malloc

python3 is the interpreter obpython embeds (build/obpython.python).  Each
runs RUNS times (interleaved, so noise hits them alike); the table shows
the median wall time and the median peak RSS (from wait4), each also as a
ratio to obpython.  All runs must print the same checksum.  Then
obmalloc's statistics for one run, and the regions example.
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
    obpython = os.path.join(ROOT, "build", "obpython")
    try:
        with open(os.path.join(ROOT, "build", "obpython.python")) as f:
            python = f.read().strip()
    except OSError:
        obpython = None  # not built (no python3 development files)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    records = os.environ.get("RECORDS", "60000")
    runs = int(os.environ.get("RUNS", "3"))
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
    print("CPython %s, workload.py %s records, median of %d runs each\n"
          % (subprocess.check_output([python, "-c", "import sys; print(sys.version.split()[0])"]).decode().strip(),
             records, runs))
    results = {name: [] for name, _, _ in configs}
    outputs = set()
    for _ in range(runs):
        for name, env, cmd in configs:
            wall, rss, out = run(cmd, env)
            results[name].append((wall, rss))
            outputs.add(out)
    if len(outputs) != 1:
        sys.exit("run_demo: the runs disagree: %s" % outputs)
    first = configs[0][0]
    ob_wall = statistics.median(w for w, _ in results[first])
    ob_rss = statistics.median(r for _, r in results[first])
    print("| allocator | wall time | vs %s | peak RSS | vs %s |" % (first, first))
    print("|---|---:|---:|---:|---:|")
    for name, _, _ in configs:
        wall = statistics.median(w for w, _ in results[name])
        rss = statistics.median(r for _, r in results[name])
        print("| %s | %.2f s | %.2fx | %.1f MiB | %.2fx |"
              % (name, wall, wall / ob_wall, rss, rss / ob_rss))
    print("\nEvery run printed: %s" % outputs.pop())

    # One more run, for obmalloc's statistics at exit.
    stats_file = os.path.join(ROOT, "build", "run_demo_stats.txt")
    name, env, cmd = configs[0]
    run(cmd, dict(env, OBMALLOC_STATS="1", OBMALLOC_STATS_FILE=stats_file))
    with open(stats_file) as f:
        report = f.read()
    print("\nobmalloc's statistics at the end of one %s run (OBMALLOC_STATS=1):\n" % name)
    print(report)

    # Regions (ob_region_*): a parser's trees dropped whole.
    parser = os.path.join(ROOT, "build", "examples", "region_parser")
    if os.path.exists(parser):
        print("Regions (examples/region_parser.c): each document's tree built in a region "
              "of its own and dropped at once, against freeing it node by node:\n")
        print(subprocess.check_output([parser]).decode().rstrip())


if __name__ == "__main__":
    main()
