#!/usr/bin/env python3
"""The daemon's own reading against `scan` over the same JSON Lines: `run --once` of a `files`
source (fresh state each time: the whole file is read, its alerts raised to a console sink)
and `scan` of the same folder, alternating, whole processes, release build. The file is the
invictus corpus's records repeated to about SIZE_MB (default 366) as JSON Lines. Rule sets:
the default pack, and default + cis + threats. Prints the median of each and the ratio.

Usage: python3 bench/files-pace.py [ROUNDS]   (default 5; SIZE_MB=366)
Compare another build: TRAILWATCH_BEFORE=/path/to/old/trailwatch adds its `run --once`.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TW = str(ROOT / "target/release/trailwatch")
BEFORE = os.environ.get("TRAILWATCH_BEFORE")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
SIZE = int(os.environ.get("SIZE_MB", "366")) << 20
WORK = ROOT / "bench/data/files-pace-366"
CORPUS = ROOT.parent / "shared/corpus/invictus-aws-dataset"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/corpus/invictus-aws-dataset")

subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
trail = WORK / "trail"
big = trail / "big.jsonl"
if not big.exists() or abs(big.stat().st_size - SIZE) > SIZE // 10:
    shutil.rmtree(WORK, ignore_errors=True)
    trail.mkdir(parents=True)
    lines = []
    for f in sorted(CORPUS.glob("*.json")):
        lines += [json.dumps(r, separators=(",", ":")) for r in json.load(open(f))["Records"]]
    block = ("\n".join(lines) + "\n").encode()
    with open(big, "wb") as out:
        while out.tell() < SIZE:
            out.write(block)
    old = time.time() - 300
    os.utime(big, (old, old))


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def config(packs):
    c = WORK / f"c-{len(packs)}.toml"
    c.write_text(
        f'state_dir = "{WORK}/state"\ngroup_window = "0s"\nrule_packs = {json.dumps(packs)}\n'
        f'[[sources]]\nname = "files"\ntype = "files"\npath = "{trail}"\n'
        f'[[sinks]]\nname = "out"\ntype = "console"\nmax_per_second = 0\nstorm_after = 0\n')
    return str(c)


size = big.stat().st_size / 2**20
print(f"| rules ({size:.0f} MB of JSON Lines) | `scan` | `run --once` | ratio |" + (" before | before ratio |" if BEFORE else ""))
print("|---|---|---|---|" + ("---|---|" if BEFORE else ""))
for packs in (["default"], ["default", "cis", "threats"]):
    cfg = config(packs)
    runs = {"scan": [], "run": [], "before": []}
    for _ in range(ROUNDS):
        runs["scan"].append(timed([TW, "scan", "--rules", ",".join(packs), str(trail)]))
        shutil.rmtree(WORK / "state", ignore_errors=True)
        runs["run"].append(timed([TW, "run", "--once", "--config", cfg]))
        if BEFORE:
            shutil.rmtree(WORK / "state", ignore_errors=True)
            runs["before"].append(timed([BEFORE, "run", "--once", "--config", cfg]))
    s, r = statistics.median(runs["scan"]), statistics.median(runs["run"])
    row = f"| {' + '.join(packs)} | {s:.2f} s | {r:.2f} s | {r / s:.1f}× |"
    if BEFORE:
        b = statistics.median(runs["before"])
        row += f" {b:.2f} s | {b / s:.1f}× |"
    print(row)
