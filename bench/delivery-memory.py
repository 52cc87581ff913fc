#!/usr/bin/env python3
"""What alerts waiting for delivery cost: N CreateUser alerts are raised by `run --once` for a
webhook that is down (nothing listens on its port), so all N stay in the outbox; then a
receiver starts on that port and the daemon (`run`, release) is started on the state and
delivers them. Reports the daemon's peak resident memory (VmHWM) once the outbox is empty,
the time it took, and the messages received; beside it, in the same run, the same with 100.

Usage: python3 bench/delivery-memory.py [N]   (default 10000; prints a Markdown table)
"""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import create_user as record, free_port  # noqa: E402

TW = ROOT / "target/release/trailwatch"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
WORK = ROOT / "bench/data/delivery-memory"


class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The answer's header and body are two writes: without this, Nagle and delayed ACKs hold
    # each answer 40 ms (the receiver's time, not the daemon's).
    disable_nagle_algorithm = True
    got = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.got += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def one(n):
    work = WORK / str(n)
    shutil.rmtree(work, ignore_errors=True)
    (work / "trail").mkdir(parents=True)
    now = int(time.time())
    for f in range(0, n, 5000):
        recs = ",".join(record(i, now) for i in range(f, min(n, f + 5000)))
        p = work / "trail" / f"f{f:06d}.json"
        p.write_text('{"Records":[' + recs + "]}")
        os.utime(p, (now - 120, now - 120))
    hook, metrics = free_port(), free_port()
    cfg = work / "c.toml"
    cfg.write_text(
        f'state_dir = "{work}/state"\ngroup_window = "0s"\nmetrics_address = "127.0.0.1:{metrics}"\n'
        f'[[sources]]\nname = "files"\ntype = "files"\npath = "{work}/trail"\npoll_interval = "1s"\n'
        f'[[sinks]]\nname = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:{hook}/in"\n'
        f'max_per_second = 0\nstorm_after = 0\nretry_initial = "1s"\ntimeout = "2s"\n')
    subprocess.run([str(TW), "run", "--once", "--config", str(cfg)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    Hook.got = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", hook), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    t = time.time()
    d = subprocess.Popen([str(TW), "run", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        while Hook.got < n and time.time() - t < 600:
            time.sleep(0.2)
        took = time.time() - t
        hwm = [l for l in open(f"/proc/{d.pid}/status") if l.startswith("VmHWM")][0]
        peak = int(hwm.split()[1]) / 1024
    finally:
        d.terminate()
        d.wait()
        server.shutdown()
    return peak, took, Hook.got


subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
print("| alerts waiting for a webhook | the daemon delivering them (peak) | time to deliver all | messages received |")
print("|---|---|---|---|")
for n in [100, N]:
    peak, took, got = one(n)
    print(f"| {n:,} | {peak:.1f} MiB | {took:.1f} s | {got:,} |")
