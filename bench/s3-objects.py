#!/usr/bin/env python3
"""How fast an `s3` source reads a burst of small objects, against boto3 downloading the same
objects with 8 threads, on moto, side by side in one run: once straight to moto, once through
the S3 gate adding 20 ms to every request (S3 is not on loopback).

The bucket holds N (default 1000) small gzipped delivery files of one account and region,
delivered over the last 15 minutes (one record each, matching no rule). trailwatch reads them
with `run --once` from a fresh state (listing, GetObject, parsing, marks, durable flushes);
boto3 lists and downloads them (no parsing). Each side runs 3 times; the median is reported.

Run: cargo build --release && target/test-venv/bin/python3 bench/s3-objects.py target/release/trailwatch [N]
(the test venv has moto and boto3: scripts/test makes it)
"""
import concurrent.futures
import gzip
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parent.parent
TW = pathlib.Path(sys.argv[1]).resolve()
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
BUCKET, ACCOUNT, REGION = "bench-burst", "111122223333", "us-east-1"
os.environ.update(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
                  AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
                  AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, ready):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if ready(line):
            # keep draining: a server logging every request blocks once the pipe is full
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, line
    raise SystemExit(f"{cmd[0]} did not start")


def client(url):
    return boto3.client("s3", endpoint_url=url, region_name=REGION,
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16,
                                      retries={"max_attempts": 1}))


def fill(url):
    s3 = client(url)
    s3.create_bucket(Bucket=BUCKET)
    now = time.time()
    keys = []
    for i in range(N):
        t = time.gmtime(now - 900 + 900 * i / N)
        day = time.strftime("%Y/%m/%d", t)
        stamp = time.strftime("%Y%m%dT%H%MZ", t)
        key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day}/{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{i:05d}.json.gz"
        rec = {"eventVersion": "1.08", "eventID": f"noise-{i}", "eventName": "DescribeInstances",
               "eventSource": "ec2.amazonaws.com", "awsRegion": REGION,
               "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "recipientAccountId": ACCOUNT,
               "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/ci"},
               "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2"}
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps({"Records": [rec]}).encode()))
        keys.append(key)
    return keys


def boto3_download(url):
    s3 = client(url)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="AWSLogs/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        sizes = list(ex.map(lambda k: len(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()), keys))
    assert len(sizes) == N, len(sizes)


def trailwatch_read(url):
    with tempfile.TemporaryDirectory() as d:
        cfg = pathlib.Path(d) / "c.toml"
        cfg.write_text(f"""state_dir = "{d}/state"
[[sources]]
name = "trail"
type = "s3"
bucket = "{BUCKET}"
region = "{REGION}"
endpoint_url = "{url}"
[[sinks]]
name = "out"
type = "console"
""")
        r = subprocess.run([str(TW), "run", "--once", "--config", str(cfg)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        state = subprocess.run([str(TW), "state", "show", "--json", "--config", str(cfg)],
                               capture_output=True, text=True)
        assert json.loads(state.stdout)["watermarks"], "nothing was read: " + r.stderr


def median_seconds(f, url, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f(url)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    moto_port = free_port()
    moto, _ = start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                    lambda l: "Running on" in l)
    moto_url = f"http://127.0.0.1:{moto_port}"
    gate_script = ROOT / "tests/it/support/s3_gate.py"
    gates = []
    try:
        fill(moto_url)
        rows = []
        for delay in (0, 20):
            g, line = start([sys.executable, str(gate_script), moto_url, str(delay)],
                            lambda l: l.startswith("READY"))
            gates.append(g)
            url = f"http://127.0.0.1:{line.split()[1]}"
            b = median_seconds(boto3_download, url)
            t = median_seconds(trailwatch_read, url)
            rows.append((delay, t, b))
        print(f"{N} small objects of one account and region, through the S3 gate in front of moto; median of 3")
        print(f"{'added delay':>12} {'trailwatch run --once':>24} {'boto3, 8 threads':>20} {'ratio':>7}")
        for delay, t, b in rows:
            print(f"{delay:>9} ms {t:>9.2f} s {N / t:>7.0f} obj/s {b:>7.2f} s {N / b:>6.0f} obj/s {t / b:>6.2f}x")
    finally:
        for p in gates + [moto]:
            p.kill()


if __name__ == "__main__":
    main()
