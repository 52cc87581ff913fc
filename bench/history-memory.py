#!/usr/bin/env python3
"""What a long alert history costs in memory: a `files` source of N CreateUser records (each
an alert, sent to a console sink) is read by `trailwatch run --once` (release), leaving N
alerts in the history; then, on that state, the daemon (`run`) is started and asked for the
whole history through its control socket by `alerts list --json` (the answers come a page at a
time), and `alerts list` runs once more on the state itself with no daemon. Peak resident
memory of each: /usr/bin/time -f %M for the commands, VmHWM from /proc for the daemon. Beside
it, in the same run, the baseline: the same steps with a history of 100 alerts.

Usage: python3 bench/history-memory.py [N]   (default 50000; prints a Markdown table)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import create_user as record, free_port  # noqa: E402

TW = ROOT / "target/release/trailwatch"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
WORK = ROOT / "bench/data/history-memory"


def peak(cmd):
    """Peak RSS (MiB) and seconds of a command."""
    t = time.time()
    o = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    if o.returncode != 0:
        sys.exit(f"{cmd}: {o.stderr[-2000:]}")
    return int(o.stderr.strip().splitlines()[-1]) / 1024, time.time() - t, o.stdout


def one(n):
    work = WORK / str(n)
    shutil.rmtree(work, ignore_errors=True)
    (work / "trail").mkdir(parents=True)
    now = int(time.time())
    per = 5000
    for f in range(0, n, per):
        recs = ",".join(record(i, now) for i in range(f, min(n, f + per)))
        p = work / "trail" / f"f{f:06d}.json"
        p.write_text('{"Records":[' + recs + "]}")
        os.utime(p, (now - 120, now - 120))
    cfg = work / "c.toml"
    port = free_port()
    cfg.write_text(
        f'state_dir = "{work}/state"\ngroup_window = "0s"\nmetrics_address = "127.0.0.1:{port}"\n'
        f'[[sources]]\nname = "files"\ntype = "files"\npath = "{work}/trail"\npoll_interval = "1s"\n'
        f'[[sinks]]\nname = "out"\ntype = "console"\nmax_per_second = 0\nstorm_after = 0\n')
    env_cfg = ["--config", str(cfg)]
    build, took, _ = peak([str(TW), "run", "--once"] + env_cfg)
    local, ltook, out = peak([str(TW), "alerts", "list", "--json", "--since", "1d"] + env_cfg)
    assert len(out.splitlines()) == n, len(out.splitlines())
    d = subprocess.Popen([str(TW), "run"] + env_cfg, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = work / "state" / "control.sock"
        for _ in range(300):
            if sock.exists():
                break
            time.sleep(0.1)
        via, vtook, out = peak([str(TW), "alerts", "list", "--json", "--since", "1d"] + env_cfg)
        assert len(out.splitlines()) == n, len(out.splitlines())
        time.sleep(3)
        hwm = [l for l in open(f"/proc/{d.pid}/status") if l.startswith("VmHWM")][0]
        daemon = int(hwm.split()[1]) / 1024
    finally:
        d.terminate()
        d.wait()
    size = sum(p.stat().st_size for p in (work / "state").rglob("*") if p.is_file()) / 2**20
    return build, took, local, ltook, via, vtook, daemon, size


subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
print("| history | `run --once` building it | `alerts list --json`, no daemon | the same through the daemon | the daemon (peak, having answered) | state on disk |")
print("|---|---|---|---|---|---|")
for n in [100, N]:
    b, bt, l, lt, v, vt, dm, size = one(n)
    print(f"| {n:,} alerts | {b:.1f} MiB, {bt:.1f} s | {l:.1f} MiB, {lt:.1f} s | {v:.1f} MiB, {vt:.1f} s | {dm:.1f} MiB | {size:.0f} MiB |")
