#!/usr/bin/env python3
"""How long loading a generated Sigma rule takes as it grows: `trailwatch scan --rules RULE
FILE` (release) on one small delivery file, for a selection of N values (5,000 to 40,000) and
a `contains` of N repeated characters, each against the smallest in the same run. Linear
loading keeps the ratio near N / 5,000; the quadratic loader of before took 11-15 s at 20,000
values and 53-58 s at 40,000.

Usage: bench/sigma-load.py      Results: a Markdown table on stdout.
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
TW = os.path.join(ROOT, "target/release/trailwatch")
FILE = os.path.join(ROOT, "examples/cloudtrail")
HEAD = "title: generated\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n"


def values(n):
    return HEAD + "    eventName:\n" + "".join(f"      - Value{i:06d}\n" for i in range(n)) + "  condition: s\n"


def contains(n):
    return HEAD + f"    eventName|contains: '{'a' * n}'\n  condition: s\n"


def timed(text, runs=3):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(text)
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        o = subprocess.run([TW, "scan", "--rules", f.name, FILE], capture_output=True)
        took = time.perf_counter() - t
        if o.returncode not in (0, 1):
            sys.exit(f"scan failed: {o.stderr.decode()}")
        best = took if best is None else min(best, took)
    os.unlink(f.name)
    return best


print("| rule | load + scan (best of 3) | against the smallest |")
print("|---|---|---|")
for name, make in [("values", values), ("contains", contains)]:
    base = None
    for n in [5_000, 10_000, 20_000, 40_000]:
        t = timed(make(n))
        base = base or t
        print(f"| {name}, {n:,} | {t:.3f} s | {t / base:.1f}× |")
