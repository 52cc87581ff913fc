#!/usr/bin/env python3
"""`scan` with more rules against `scan` with the default pack, over the JSON Lines of
`bench/files-pace.py` (the invictus corpus's records repeated to about 366 MB; run that script
once to make them): whole processes, release build, medians of ROUNDS, each rule set's time
and its ratio to the default pack's time of the same build, and the peak resident memory
(which counts the mapped input, about 370 MB); the three packs also without the threats pack's
first-seen rules (`bench/data/packs-pace/no-first-seen.toml`), and with the Sigma rules of
tests/sigma but `suspicious_tooling` (which matches every record of this corpus: Stratus Red
Team's user agent). The last row is a floor: the default pack (a rules file without
rule_packs brings it) and one rule that matches every API call (nearly every
record), so that each record is parsed, matched and written out. With
TRAILWATCH_BEFORE=/path/to/old/trailwatch the old build runs alternately with the current one,
and its columns are added.

Usage: python3 bench/packs-pace.py [ROUNDS [ROW...]]   (default 5 rounds, every row)
ROW: a row's number in the table (1 is the default pack, always run): more rounds of fewer
rows, on a noisy machine. With TRAILWATCH_BEFORE, the two builds take turns going first, and a
last column says now ÷ before.
"""
import os
import statistics
import tomllib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TW = str(ROOT / "target/release/trailwatch")
BEFORE = os.environ.get("TRAILWATCH_BEFORE")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TRAIL = ROOT / "bench/data/files-pace-366/trail"
# The three packs with the threats pack's first-seen rules disabled: what those rules cost.
NO_FIRST_SEEN = ROOT / "bench/data/packs-pace/no-first-seen.toml"
NO_FIRST_SEEN.parent.mkdir(parents=True, exist_ok=True)
threats = tomllib.load(open(ROOT / "src/rules/packs/threats.toml", "rb"))
NO_FIRST_SEEN.write_text('rule_packs = ["default", "cis", "threats"]\n' + "".join(
    f'[[rules]]\nname = "{r["name"]}"\nenabled = false\n'
    for r in threats["rules"] if "first_seen" in r))
# tests/sigma without the rule that matches every record of this corpus.
SIGMA_RARE = ROOT / "bench/data/packs-pace/sigma-rare"
SIGMA_RARE.mkdir(parents=True, exist_ok=True)
for f in (ROOT / "tests/sigma").glob("*.yml"):
    if f.name != "suspicious_tooling.yml":
        (SIGMA_RARE / f.name).write_text(f.read_text())
# The floor: one rule that every API call matches.
EVERY_CALL = ROOT / "bench/data/packs-pace/every-call.toml"
EVERY_CALL.write_text('''[[rules]]
name = "every-call"
title = "Every API call"
severity = "low"
event_pattern = '{"detail":{"eventType":["AwsApiCall"]}}'
''')
SETS = [
    "default",
    "default,cis",
    "default,tests/sigma",
    "default,cis,threats",
    "default,cis,threats,tests/sigma",
    str(NO_FIRST_SEEN),
    f"{NO_FIRST_SEEN},tests/sigma",
    f"default,cis,threats,{SIGMA_RARE}",
    f"{NO_FIRST_SEEN},{SIGMA_RARE}",
    str(EVERY_CALL),
]

if not (TRAIL / "big.jsonl").exists():
    sys.exit("no input: run `python3 bench/files-pace.py 1` first (it makes the file)")
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)


def timed(binary, rules):
    """Wall seconds and peak resident KiB of one scan."""
    t = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M", binary, "scan", "--rules", rules, str(TRAIL)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    return time.perf_counter() - t, int(p.stderr.strip().splitlines()[-1])


builds = {"now": TW} | ({"before": BEFORE} if BEFORE else {})
if len(sys.argv) > 2:
    SETS = [SETS[i] for i in sorted({0} | {int(a) - 1 for a in sys.argv[2:]})]
runs = {(b, s): [] for b in builds for s in SETS}
for r in range(ROUNDS):
    for s in SETS:
        for b, binary in (list(builds.items())[::-1] if r % 2 else builds.items()):
            runs[(b, s)].append(timed(binary, s))

med = {k: (statistics.median(t for t, _ in v), max(m for _, m in v)) for k, v in runs.items()}
size = (TRAIL / "big.jsonl").stat().st_size / 2**20
head = "| rules | " + " | ".join(
    f"{b}: time | {b}: × default | {b}: peak memory" for b in builds) + " |"
print(f"{size:.0f} MB of JSON Lines, 2 cores, medians of {ROUNDS}\n")
last = " now ÷ before |" if BEFORE else ""
print(head + last)
print("|---|" + "---|---|---|" * len(builds) + ("---|" if BEFORE else ""))
for s in SETS:
    cells = []
    for b in builds:
        t, m = med[(b, s)]
        cells.append(f"{t:.2f} s | {t / med[(b, 'default')][0]:.1f}× | {m / 1024:.0f} MiB")
    name = (s.replace(str(NO_FIRST_SEEN), "default,cis,threats without first-seen rules")
            .replace(str(SIGMA_RARE), "tests/sigma without suspicious_tooling")
            .replace(str(EVERY_CALL), "default + one rule matching every API call"))
    if BEFORE:
        cells.append(f"{med[('now', s)][0] / med[('before', s)][0]:.2f}")
    print(f"| {name} | " + " | ".join(cells) + " |")
