#!/usr/bin/env python3
"""How fast the status page answers with a long history: a `files` source of N CreateUser
records (each an alert, to a console sink) is read by `trailwatch run --once` (release),
leaving N alerts in the history; the daemon is then started on that state and each page is
asked for 10 times over HTTP, beside /metrics (the baseline, in the same run). Then
`report --format html` runs through the daemon's control socket. Prints a Markdown table of
the median and slowest answer.

Usage: python3 bench/status-page.py [N]   (default 10000)
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import create_user, free_port  # noqa: E402

TW = ROOT / "target/release/trailwatch"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
WORK = ROOT / "bench/data/status-page"


def timed(url, times=10):
    took = []
    for _ in range(times):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as r:
            body = r.read()
            assert r.status == 200, (url, r.status)
        took.append(time.perf_counter() - t)
    return statistics.median(took), max(took), len(body)


subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
shutil.rmtree(WORK, ignore_errors=True)
(WORK / "trail").mkdir(parents=True)
now = int(time.time())
for f in range(0, N, 5000):
    recs = ",".join(create_user(i, now, f"ops-{i % 50}") for i in range(f, min(N, f + 5000)))
    p = WORK / "trail" / f"f{f:06d}.json"
    p.write_text('{"Records":[' + recs + "]}")
    os.utime(p, (now - 120, now - 120))
port = free_port()
cfg = WORK / "c.toml"
cfg.write_text(
    f'state_dir = "{WORK}/state"\ngroup_window = "0s"\nmetrics_address = "127.0.0.1:{port}"\n'
    f'[[sources]]\nname = "files"\ntype = "files"\npath = "{WORK}/trail"\npoll_interval = "1s"\n'
    f'[[sinks]]\nname = "out"\ntype = "console"\nmax_per_second = 0\nstorm_after = 0\n')
subprocess.run([str(TW), "run", "--once", "--config", str(cfg)], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
d = subprocess.Popen([str(TW), "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    rows = [("/metrics (baseline)", base + "/metrics"), ("/ (status page)", base + "/"),
            ("/alerts", base + "/alerts"), ("/alerts?principal=ops-7", base + "/alerts?principal=ops-7"),
            (f"/alerts/{N // 2}", base + f"/alerts/{N // 2}")]
    print(f"| {N:,} alerts in the history | median | slowest of 10 | page size |")
    print("|---|---|---|---|")
    for name, url in rows:
        med, mx, size = timed(url)
        print(f"| `GET {name}` | {med * 1000:.1f} ms | {mx * 1000:.1f} ms | {size / 1024:.0f} KiB |")
    t = time.perf_counter()
    subprocess.run([str(TW), "report", "--config", str(cfg), "--format", "html", "-o",
                    str(WORK / "report.html")], check=True, stderr=subprocess.DEVNULL)
    print(f"| `report --format html` (through the daemon) | {(time.perf_counter() - t) * 1000:.0f} ms | | "
          f"{(WORK / 'report.html').stat().st_size / 1024:.0f} KiB |")
finally:
    d.terminate()
    d.wait()
