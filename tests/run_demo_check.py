"""make run's demonstration (examples/run_demo.py) says only what its runs
support: its verdicts, its chart and its extract of the statistics, then a
short real run of the whole script.

    python3 run_demo_check.py <source dir> <build dir>
"""
import os
import subprocess
import sys

SRC, BUILD = sys.argv[1], os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(SRC, "examples"))
os.environ["BUILD"] = BUILD
import run_demo  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


# Verdicts: a winner only when the ranges do not overlap, and only with
# enough runs for that to mean something.
base = [2.0, 2.1, 2.05, 1.98, 2.2]
check(run_demo.verdict([1.5, 1.6, 1.55, 1.7, 1.52], base) == "faster (0.76x)", "clear win")
check(run_demo.verdict([2.5, 2.6, 2.3, 2.4, 2.45], base).startswith("slower"), "clear loss")
check(run_demo.verdict([1.5, 1.6, 1.55, 1.7, 2.0], base) == "within noise", "one run inside the base range")
check(run_demo.verdict([1.0, 1.1, 1.05], [2.0, 2.1, 2.2]) == "too few runs to tell", "3 runs each")

# The chart: the slowest run spans the full width; bars scale with time.
lines = run_demo.bar_chart([("a", [1.0, 2.0]), ("bb", [3.0, 4.0])], width=40)
bar = lambda l: sum(1 for ch in l if ch in "\u2588\u2591")
check(bar(lines[1]) == 40, "the slowest run spans the width: %r" % lines[1])
check(lines[0].count("\u2588") == 10 and lines[0].count("\u2591") == 10, "a's bar: %r" % lines[0])
check(lines[0].endswith("1.50 s") and lines[1].endswith("3.50 s"), "medians printed: %r" % lines)

# The extract of a real report: the busiest classes, in order, and the
# summary lines.
stats_file = os.path.join(BUILD, "run_demo_check_stats.txt")
env = dict(os.environ, LD_PRELOAD=os.path.join(BUILD, "libobmalloc.so"),
           OBMALLOC_STATS="1", OBMALLOC_STATS_FILE=stats_file)
prog = "x = [[i] * (i % 9) for i in range(30000)]; y = ['%d' % i for i in range(5000)]"
subprocess.check_call([sys.executable, "-c", prog], env=env)
with open(stats_file) as f:
    report = f.read()
extract, nclasses = run_demo.short_report(report)
rows = [l for l in extract if l[:6].strip().isdigit()]
mallocs = [int(l.split()[7]) for l in rows]
check(len(rows) == 5, "5 classes in the extract: %r" % extract)
check(nclasses > 5, "the report has more classes than the extract (%d)" % nclasses)
check(mallocs == sorted(mallocs, reverse=True), "busiest first: %r" % mallocs)
full = [int(l.split()[7]) for l in report.splitlines() if len(l.split()) == 9 and l.split()[0].isdigit()]
check(mallocs[0] == max(full), "the busiest class is first")
check(any(l.startswith("arenas:") for l in extract) and any(l.startswith("bytes:") for l in extract),
      "summary lines kept: %r" % extract)

# The whole demonstration, small: too few runs for a verdict, so it must
# not give one.
out = subprocess.run([sys.executable, os.path.join(SRC, "examples", "run_demo.py")],
                     env=dict(os.environ, RUNS="2", RECORDS="1500"),
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600).stdout.decode()
check("| obmalloc |" in out and "| pymalloc |" in out and "| glibc |" in out, "table rows")
check("too few runs to tell" in out and "faster (" not in out and "slower (" not in out,
      "no verdict from 2 runs")
check("Every run printed: checksum" in out, "checksums agree")
check("busiest of" in out and "run_demo_stats.txt" in out, "the statistics extract and its pointer")

if failures:
    print(out if "out" in dir() else "")
    sys.exit("run_demo_check: FAILED: " + "; ".join(failures))
print("run_demo_check: ok")
