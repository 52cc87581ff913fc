#!/usr/bin/env python3
"""Where the time of `scan` with the three packs and tests/sigma goes, stage by stage, against
the default pack, over the JSON Lines of `bench/files-pace.py` (run that script once to make
them). A build with `bench/stages.patch` stops the work on each record where TW_STAGE says:

  3  after the prefilter (the finder's jumps and the checker's candidates): nothing parsed
  2  after the parse (the members the rules read): no rule matched
  1  everything but first-seen matches (dropped as they are found: nothing kept or judged)
  0  everything (the patch changes nothing)

The patch is applied to the working tree for the build and taken back at once; the patched
binary is kept as target/release/trailwatch-stages, and target/release/trailwatch is put back
as it was (the other scripts' scans must not run the patched build). Whole processes, medians of ROUNDS, the
stages taking turns going first; each stage's time and its ratio to the default pack's.

Usage: python3 bench/stages.py [ROUNDS]   (default 7)
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
TRAIL = ROOT / "bench/data/files-pace-366/trail"
PATCH = ROOT / "bench/stages.patch"
BIN = ROOT / "target/release/trailwatch-stages"
RULES = "default,cis,threats,tests/sigma"

if not (TRAIL / "big.jsonl").exists():
    sys.exit("no input: run `python3 bench/files-pace.py 1` first (it makes the file)")
RELEASE = ROOT / "target/release/trailwatch"
KEPT = ROOT / "target/release/trailwatch-before-stages"
if RELEASE.exists():
    shutil.copy2(RELEASE, KEPT)
subprocess.run(["git", "apply", str(PATCH)], cwd=ROOT, check=True)
try:
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    shutil.copy(RELEASE, BIN)
finally:
    subprocess.run(["git", "apply", "-R", str(PATCH)], cwd=ROOT, check=True)
    if KEPT.exists():
        os.replace(KEPT, RELEASE)

ROWS = [("default pack", "default", "0")] + [
    (f"three packs + tests/sigma, stage {s}", RULES, s) for s in "3210"]
times = {r: [] for r in ROWS}
for n in range(ROUNDS):
    for row in (ROWS[::-1] if n % 2 else ROWS):
        env = dict(os.environ, TW_STAGE=row[2])
        t = time.perf_counter()
        subprocess.run([str(BIN), "scan", "--rules", row[1], str(TRAIL)], cwd=ROOT, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[row].append(time.perf_counter() - t)

base = statistics.median(times[ROWS[0]])
print(f"medians of {ROUNDS}, 2 cores\n\n| what | time | × default |\n|---|---|---|")
for row in ROWS:
    t = statistics.median(times[row])
    print(f"| {row[0]} | {t:.2f} s | {t / base:.1f}× |")
