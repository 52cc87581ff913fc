#!/usr/bin/env python3
"""What a shared state (DynamoDB) costs against the one-host state (sled), side by side in one
run: `trailwatch run --once` over the same files, once with sled alone and once with
`[state] backend = "dynamodb"` on moto (each run from a fresh state and a fresh table).

The folder holds F delivery files of 50 records each, half of them CreateUser (an alert each,
through the default pack) and half noise. Reported: the median of 3 runs per side, the ratio,
and the DynamoDB calls and items written per alert (from the instance's own count, logged when
it gives the lease up). Two DynamoDBs: moto (real semantics, but its TransactWriteItems copies
the whole table for every item it carries, so its answers slow down as the table grows: its
time measures moto), and a stub on loopback that answers every call at once (no semantics: the
time trailwatch itself adds around each call). DynamoDB in the same region answers a
TransactWriteItems in a few milliseconds: the calls per alert are the figure that carries over.

Then the same for the `s3` source: B objects of one record each (a CreateUser) in a bucket on
moto, read by `run --once` from a fresh state, with sled and with the stub DynamoDB: objects per
second. Standbys add nothing to it: one instance works at a time.

Run: cargo build --release && target/test-venv/bin/python3 bench/shared-state.py target/release/trailwatch [F] [B]
(the test venv has moto: scripts/test makes it)
"""
import gzip
import http.server
import json
import os
import pathlib
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TW = pathlib.Path(sys.argv[1]).resolve()
F = int(sys.argv[2]) if len(sys.argv) > 2 else 20
B = int(sys.argv[3]) if len(sys.argv) > 3 else 300
PER_FILE = 50
ACCOUNT, REGION = "111122223333", "us-east-1"
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
           AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
           AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RUST_LOG="info")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if "Running on" in line:
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            return p, f"http://127.0.0.1:{port}"
    raise SystemExit("moto did not start")


class Stub(http.server.BaseHTTPRequestHandler):
    """Answers every DynamoDB call at once: no lease held, no item stored, every write done."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        action = self.headers.get("x-amz-target", "").split(".")[-1]
        body = {"DescribeTable": {"Table": {"TableStatus": "ACTIVE"}},
                "Query": {"Items": [], "Count": 0},
                "CreateTable": {"TableDescription": {"TableStatus": "ACTIVE"}}}.get(action, {})
        out = json.dumps(body).encode()
        # One write: headers and body in separate segments meet delayed ACKs (40 ms each).
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n"
                         + f"content-length: {len(out)}\r\n\r\n".encode() + out)

    def log_message(self, *a):
        pass


def start_stub():
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s, f"http://127.0.0.1:{s.server_address[1]}"


def fill(trail):
    trail.mkdir()
    now = time.time()
    alerts = 0
    for f in range(F):
        recs = []
        for i in range(PER_FILE):
            n = f * PER_FILE + i
            t = time.gmtime(now - 3600 + n)
            rec = {"eventVersion": "1.08", "eventID": f"ev-{n:06d}", "awsRegion": REGION,
                   "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "recipientAccountId": ACCOUNT,
                   "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/admin",
                                    "accountId": ACCOUNT, "userName": "admin"},
                   "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2", "eventType": "AwsApiCall"}
            if i % 2 == 0:
                rec.update(eventName="CreateUser", eventSource="iam.amazonaws.com",
                           requestParameters={"userName": f"u{n}"})
                alerts += 1
            else:
                rec.update(eventName="DescribeInstances", eventSource="ec2.amazonaws.com")
            recs.append(rec)
        (trail / f"f{f:04d}.json").write_text(json.dumps({"Records": recs}))
    return alerts


def run(d, trail, moto_url, table):
    state = ""
    if table:
        state = (f'[state]\nbackend = "dynamodb"\ntable = "{table}"\nregion = "{REGION}"\n'
                 f'endpoint_url = "{moto_url}"\ninstance = "bench"\n')
    cfg = pathlib.Path(d) / f"{table or 'sled'}.toml"
    cfg.write_text(f'state_dir = "{d}/{table or "sled"}-state"\ngroup_window = "0s"\n{state}'
                   f'[[sources]]\nname = "files"\ntype = "files"\npath = "{trail}"\n'
                   f'[[sinks]]\nname = "out"\ntype = "console"\n')
    if table:
        subprocess.run([str(TW), "state", "init", "--config", str(cfg)], env=ENV, check=True,
                       capture_output=True)
    t = time.perf_counter()
    r = subprocess.run([str(TW), "run", "--once", "--config", str(cfg)], env=ENV,
                       capture_output=True, text=True)
    took = time.perf_counter() - t
    assert r.returncode == 0, r.stderr[-2000:]
    calls = re.search(r"\((\d+) DynamoDB calls, (\d+) items written\)", r.stderr)
    return took, calls and (int(calls.group(1)), int(calls.group(2)))


def fill_bucket(moto_url):
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION,
                      aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="bench-shared")
    now = time.time()
    for i in range(B):
        t = time.gmtime(now - 900 + 900 * i / B)
        day, stamp = time.strftime("%Y/%m/%d", t), time.strftime("%Y%m%dT%H%MZ", t)
        key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day}/{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{i:05d}.json.gz"
        rec = {"eventVersion": "1.08", "eventID": f"obj-{i:05d}", "eventName": "CreateUser",
               "eventSource": "iam.amazonaws.com", "awsRegion": REGION, "eventType": "AwsApiCall",
               "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "recipientAccountId": ACCOUNT,
               "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/admin"},
               "requestParameters": {"userName": f"u{i}"}}
        s3.put_object(Bucket="bench-shared", Key=key,
                      Body=gzip.compress(json.dumps({"Records": [rec]}).encode()))


def read_bucket(d, moto_url, stub_url):
    state = ""
    if stub_url:
        state = (f'[state]\nbackend = "dynamodb"\ntable = "bench"\nregion = "{REGION}"\n'
                 f'endpoint_url = "{stub_url}"\ninstance = "bench"\n')
    cfg = pathlib.Path(d) / "c.toml"
    cfg.write_text(f'state_dir = "{d}/state"\ngroup_window = "0s"\n{state}'
                   f'[[sources]]\nname = "trail"\ntype = "s3"\nbucket = "bench-shared"\n'
                   f'region = "{REGION}"\nendpoint_url = "{moto_url}"\n'
                   f'[[sinks]]\nname = "out"\ntype = "console"\n')
    t = time.perf_counter()
    r = subprocess.run([str(TW), "run", "--once", "--config", str(cfg)], env=ENV,
                       capture_output=True, text=True)
    took = time.perf_counter() - t
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("obj-") >= B, "every object alerted"
    return took


def objects(moto_url, stub_url):
    fill_bucket(moto_url)
    times = {"sled": [], "stub": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(3):
            for side, url in (("sled", None), ("stub", stub_url)):
                os.makedirs(f"{d}/{side}{i}")
                times[side].append(read_bucket(f"{d}/{side}{i}", moto_url, url))
    s, st = statistics.median(times["sled"]), statistics.median(times["stub"])
    print(f"{B} S3 objects of one record (an alert each) on moto; run --once, median of 3")
    print(f"  sled (one host)          {s:6.2f} s  {B / s:6.0f} objects/s")
    print(f"  dynamodb, stub           {st:6.2f} s  {B / st:6.0f} objects/s  ({st / s:.1f}x sled's time)")


def main():
    moto, moto_url = start_moto()
    stub, stub_url = start_stub()
    try:
        with tempfile.TemporaryDirectory() as d:
            trail = pathlib.Path(d) / "trail"
            alerts = fill(trail)
            times = {"sled": [], "stub": [], "moto": []}
            counts = None
            for i in range(3):
                for side, url in (("sled", None), ("stub", stub_url), ("moto", moto_url)):
                    os.makedirs(f"{d}/{side}{i}")
                    took, c = run(f"{d}/{side}{i}", trail, url or moto_url, None if side == "sled" else f"bench-{i}")
                    times[side].append(took)
                    if side == "moto":
                        counts = c
            s, st, m = (statistics.median(times[k]) for k in ("sled", "stub", "moto"))
            calls, items = counts
            print(f"{F * PER_FILE} records in {F} files, {alerts} alerts; run --once, median of 3")
            print(f"  sled (one host)          {s:6.2f} s  {alerts / s:6.0f} alerts/s")
            print(f"  dynamodb, stub           {st:6.2f} s  {alerts / st:6.0f} alerts/s  ({st / s:.1f}x sled's time)")
            print(f"  dynamodb, moto           {m:6.2f} s  {alerts / m:6.0f} alerts/s  ({m / s:.1f}x sled's time)")
            print(f"  DynamoDB calls per alert {calls / alerts:.2f}, items written per alert {items / alerts:.2f}")
        objects(moto_url, stub_url)
    finally:
        moto.kill()
        stub.shutdown()


if __name__ == "__main__":
    main()
