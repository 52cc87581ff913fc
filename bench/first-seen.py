#!/usr/bin/env python3
"""What a first-seen history of 100,000 principals costs: `trailwatch run --once` (release)
reads a `files` source of 100,000 GetSecretValue records, one per principal, each from its own
network, under a first-seen rule on (principal, network) in its learning week (every sighting
recorded, nothing alerted), then again with 100,000 new records of the same principals a day
later (every sighting known and refreshed). Beside it, in the same run, the baseline: the same
records under a rule that matches none of them. For each: the state folder's size on disk, the
peak resident memory (/usr/bin/time -f %M) and the time.

Usage: python3 bench/first-seen.py [N]   (N principals, default 100000; prints a Markdown table)
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TW = ROOT / "target/release/trailwatch"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
WORK = ROOT / "bench/data/first-seen"
T0 = 1_795_305_600  # 2026-11-22T00:00:00Z


def record(n, day):
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + day * 86400 + n % 86400))
    ip = f"198.{51 + (n >> 16) % 100}.{(n >> 8) & 255}.{n & 255}"
    return json.dumps({
        "eventVersion": "1.09", "eventID": f"d{day}-{n}", "eventTime": t,
        "eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                         "arn": f"arn:aws:iam::111122223333:user/principal-{n:06d}"},
        "requestParameters": {"secretId": "prod/db"}, "recipientAccountId": "111122223333",
    }, separators=(",", ":"))


def files(folder, day):
    folder.mkdir(parents=True, exist_ok=True)
    per = 10_000
    for start in range(0, N, per):
        path = folder / f"day{day}-{start:07d}.json"
        with open(path, "w") as f:
            f.write('{"Records":[' + ",".join(record(n, day) for n in range(start, min(N, start + per))) + "]}")
        old = time.time() - 120
        os.utime(path, (old, old))


def config(case, event_name, first_seen):
    d = WORK / case
    if d.exists():
        shutil.rmtree(d)
    (d / "trail").mkdir(parents=True)
    cfg = d / "c.toml"
    fs = 'first_seen = { fields = ["userIdentity.arn", "enrich.network"], window = "30d", learn = "7d" }' if first_seen else ""
    cfg.write_text(f'''state_dir = "{d}/state"
rule_packs = []
[[sources]]
name = "files"
type = "files"
path = "{d}/trail"
[[rules]]
name = "r"
event_pattern = '{{"detail":{{"eventName":["{event_name}"]}}}}'
{fs}
[[sinks]]
name = "out"
type = "console"
''')
    return d, cfg


def run_once(cfg):
    t = time.time()
    o = subprocess.run(["/usr/bin/time", "-f", "%M", str(TW), "run", "--once", "--config", str(cfg)],
                       capture_output=True, text=True)
    secs = time.time() - t
    if o.returncode != 0:
        sys.exit(f"run --once failed: {o.stderr[-2000:]}")
    kib = int(o.stderr.strip().splitlines()[-1])
    return kib / 1024, secs


def disk(d):
    """The blocks the state folder takes (what `du` says)."""
    return sum(f.stat().st_blocks * 512 for f in (d / "state").rglob("*") if f.is_file()) / (1 << 20)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    rows = []
    for case, name, fs in [("baseline", "NoSuchEvent", False), ("first-seen", "GetSecretValue", True)]:
        d, cfg = config(case, name, fs)
        files(d / "trail", 0)
        mem1, s1 = run_once(cfg)
        disk1 = disk(d)
        files(d / "trail", 1)
        mem2, s2 = run_once(cfg)
        rows.append((case, disk1, mem1, s1, disk(d), mem2, s2))
    print(f"| {N:,} principals | first run (all new): state on disk | peak memory | time | second run (all known, refreshed a day later): state on disk | peak memory | time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for case, d1, m1, s1, d2, m2, s2 in rows:
        print(f"| {case} | {d1:.1f} MiB | {m1:.1f} MiB | {s1:.1f} s | {d2:.1f} MiB | {m2:.1f} MiB | {s2:.1f} s |")
    base, fs = rows[0], rows[1]
    most = max(fs[1], fs[4]) - max(base[1], base[4])
    print(f"\nthe history's cost: at most {most:.1f} MiB on disk ({most * (1 << 20) / N:.0f} bytes per principal), "
          f"{max(fs[2], fs[5]):.1f} MiB peak memory ({max(fs[2], fs[5]) / max(base[2], base[5]):.1f}x the baseline)")


if __name__ == "__main__":
    main()
