#!/usr/bin/env python3
"""Instructions, not seconds: `scan --rules RULES` under valgrind's cachegrind (no cache
simulation), over the first LINES lines of the JSON Lines of `bench/files-pace.py` (run that
script once to make them), for each rule set and each build. A count of instructions does not
move with the machine's neighbours, so a change of a few percent that whole-process timings on
a shared 2-core machine cannot see shows here; it is no substitute for time (a walk that waits
on memory or on the step before costs more than its instructions say), so quote both.

The rules' loading is taken out: each count is the scan of the sample less the scan of an empty
folder with the same rules and build. The ratio column is against the default pack of the same
build, as in `bench/packs-pace.py`.

Usage: python3 bench/instructions.py [LINES [BUILD...]]
  LINES  lines of the sample (default 20000, about 24 MB)
  BUILD  trailwatch binaries to compare (default: target/release/trailwatch, built here)
RULES=default,cis,threats;... picks the rule sets (`;` between sets).
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIG = ROOT / "bench/data/files-pace-366/trail/big.jsonl"
LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
BUILDS = sys.argv[2:] or [str(ROOT / "target/release/trailwatch")]
SETS = os.environ.get(
    "RULES", "default;default,cis,threats;default,cis,threats,tests/sigma").split(";")

if not BIG.exists():
    sys.exit("no input: run `python3 bench/files-pace.py 1` first (it makes the file)")
if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
    sys.exit("valgrind is missing: apt-get install valgrind")
if not sys.argv[2:]:
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


def instructions(binary, rules, folder):
    """Instructions executed by one scan (every thread), as cachegrind counts them."""
    p = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         binary, "scan", "--rules", rules, folder],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # valgrind exits with the scan's status: a scan that failed (a bad rule set, a binary that
    # is not trailwatch) counts nothing worth comparing.
    if p.returncode != 0:
        sys.exit(f"{binary} scan --rules {rules} {folder} failed (exit status {p.returncode}):\n"
                 f"{p.stderr[-2000:]}")
    m = re.search(r"I\s+refs:\s+([\d,]+)", p.stderr)
    if not m:
        sys.exit(f"no count from cachegrind for {binary} {rules}:\n{p.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


with tempfile.TemporaryDirectory() as tmp:
    sample, empty = Path(tmp, "sample"), Path(tmp, "empty")
    sample.mkdir()
    empty.mkdir()
    with open(BIG, "rb") as src, open(sample / "sample.jsonl", "wb") as out:
        for i, line in enumerate(src):
            if i >= LINES:
                break
            out.write(line)
    size = (sample / "sample.jsonl").stat().st_size / 1e6
    counts = {(b, s): instructions(b, s, str(sample)) - instructions(b, s, str(empty))
              for b in BUILDS for s in SETS}

print(f"{LINES} lines ({size:.0f} MB) of JSON Lines; millions of instructions of the scan, "
      "rules' loading taken out\n")
print("| rules | " + " | ".join(f"{Path(b).name} | × default" for b in BUILDS) +
      (" | last ÷ first |" if len(BUILDS) > 1 else " |"))
print("|---|" + "---|---|" * len(BUILDS) + ("---|" if len(BUILDS) > 1 else ""))
for s in SETS:
    cells = [f"{counts[(b, s)] / 1e6:,.0f} | {counts[(b, s)] / counts[(b, SETS[0])]:.1f}×"
             for b in BUILDS]
    if len(BUILDS) > 1:
        cells.append(f"{counts[(BUILDS[-1], s)] / counts[(BUILDS[0], s)]:.3f}")
    print(f"| {s} | " + " | ".join(cells) + " |")
