#!/usr/bin/env python3
"""CPython's regression tests on the two free-threaded builds, side by side
(issue 27): build/python-ft (stock, its own mimalloc) and build/obpython-ft
(obmalloc), each test module's counts of tests run, failed (failures and
errors) and skipped, from regrtest's JUnit XML.

    tools/cpython_ft_tests.py [--build DIR] [--jobs N] [TEST ...]

Without TESTs, the slice issue 27 names.  Prints a markdown table; exits 1
when a module's result differs between the two builds.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SLICE = ["test_gc", "test_free_threading", "test_threading", "test_thread", "test_weakref",
         "test_dict", "test_list", "test_set", "test_json", "test_sys", "test_capi",
         "test_concurrent_futures"]


def run(python, tests, jobs):
    """module -> [run, failed, skipped]; the names of the tests that failed
    and of those skipped; the run's last lines."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        proc = subprocess.run([python, "-m", "test", "-j%d" % jobs, "--timeout", "1200",
                               "--junit-xml", xml] + tests, cwd=tmp,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        counts = {t: [0, 0, 0] for t in tests}
        failed, skipped = set(), set()
        if os.path.exists(xml):
            for case in ET.parse(xml).getroot().iter("testcase"):
                # name: test.test_dict.DictTest.test_copy, or
                # test.test_capi.test_misc.CAPITest.test_...
                name = case.get("name", "")
                parts = name.split(".")
                module = parts[1] if len(parts) > 1 and parts[0] == "test" else parts[0]
                c = counts.setdefault(module, [0, 0, 0])
                c[0] += 1
                if case.find("failure") is not None or case.find("error") is not None:
                    c[1] += 1
                    failed.add(name)
                elif case.find("skipped") is not None or case.get("status") == "skipped":
                    c[2] += 1
                    skipped.add(name)
        tail = [l for l in proc.stdout.splitlines() if l.strip()][-12:]
        return counts, failed, skipped, tail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    tests = args.tests or SLICE
    builds = ["python-ft", "obpython-ft"]
    results, failed, skipped = {}, {}, {}
    for b in builds:
        py = os.path.join(args.build, b)
        if not os.path.exists(py):
            sys.exit("cpython_ft_tests: %s not built (make %s)" % (py, b))
        print("cpython_ft_tests: running %d modules on %s" % (len(tests), b), file=sys.stderr)
        results[b], failed[b], skipped[b], tail = run(py, tests, args.jobs)
        print("\n".join("  " + l for l in tail), file=sys.stderr)
    print("| module | %s | %s | same |" % tuple(builds))
    print("|---|---:|---:|---|")
    differ = 0
    cell = lambda c: "%d run, %d failed, %d skipped" % tuple(c)
    for t in sorted(set(results[builds[0]]) | set(results[builds[1]])):
        a, b = (results[x].get(t, [0, 0, 0]) for x in builds)
        same = a == b
        differ += not same
        print("| %s | %s | %s | %s |" % (t, cell(a), cell(b), "yes" if same else "**no**"))
    totals = [[sum(c[i] for c in results[x].values()) for i in range(3)] for x in builds]
    print("| **all** | %s | %s | |" % (cell(totals[0]), cell(totals[1])))
    for what, names in (("failed", failed), ("skipped", skipped)):
        for x, y in (builds, builds[::-1]):
            only = sorted(names[x] - names[y])
            if only:
                print("\n%s on %s only (%d):\n" % (what.capitalize(), x, len(only)))
                print("\n".join("- " + n for n in only))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
