#!/usr/bin/env python3
"""Objects per second with one, two and three instances sharing an `s3` source's queue
(`[state] backend = "dynamodb"`): the standbys read objects announced on the queue and hand
what they find to the instance that holds the lease, which raises it.

B objects of one record each (a CreateUser: an alert each) wait in a bucket on moto, behind
the S3 gate adding D ms to every request (S3 is not on loopback); the B notifications wait in
an SQS queue kept here in memory (class Sqs, which counts the calls);
N instances start (daemons, lease 3 s). Timed: from the moment the last instance is ready (the
holder holds the lease, the others share the reading) to the holder's last alert raised (its
`trailwatch_alerts_raised_total`); the rate counts the alerts raised in that time. Delivery is
the holder's alone and not timed; every alert must still reach a local webhook receiver, none
twice.

DynamoDB: the lease item goes to moto (real conditional writes: who holds it is decided
there); every other item to an in-memory store here (moto's TransactWriteItems copies the
whole table for every item it carries, and would time moto, not trailwatch).

DynamoDB calls per alert: every instance's own count (the holder's when it gives the lease up,
each standby's when it stops), lease renewals and idle Queries over the run included. SQS calls
per alert: ReceiveMessage, DeleteMessage and ChangeMessageVisibility, as the fake counts them.

BENCH_SQS=moto uses moto's SQS instead of the fake (the SQS calls then read 0). BENCH_ROUNDS
sets the rounds (default 3). DYNAMO_CALLS=1 prints, after each run, the DynamoDB calls the fake
received, by action and the item's partition (`t`: `lease`, …; `-` for none).

Run: cargo build --release && target/test-venv/bin/python3 bench/instances.py target/release/trailwatch [B] [D]
"""
import base64
import http.server
import json
import os
import pathlib
import re
import statistics
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
TW = pathlib.Path(sys.argv[1]).resolve()
B = int(sys.argv[2]) if len(sys.argv) > 2 else 300
D = int(sys.argv[3]) if len(sys.argv) > 3 else 20
ACCOUNT, REGION = "111122223333", "us-east-1"
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
           AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent",
           AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RUST_LOG=os.environ.get("RUST_LOG", "info"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, ready, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    for line in p.stdout:
        seen.append(line)
        if ready in line:
            p.lines = []
            threading.Thread(target=lambda: [p.lines.append(x) for x in p.stdout], daemon=True).start()
            return p, line
    raise SystemExit(f"{cmd[0]} did not start:\n{''.join(seen[-20:])}")


def start_moto():
    port = free_port()
    p, _ = start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], "Running on")
    return p, f"http://127.0.0.1:{port}"


class Dynamo(http.server.BaseHTTPRequestHandler):
    """The lease item at moto; the rest kept here, in memory."""
    protocol_version = "HTTP/1.1"
    items = {}
    lock = threading.Lock()
    moto = ""
    # Calls by action and partition (`DYNAMO_CALLS=1` prints them after each run).
    calls = {}

    @staticmethod
    def key(k):
        return (k["t"]["S"], k["k"]["B"])

    def local(self, action, req):
        with self.lock:
            if action == "PutItem":
                self.items[self.key(req["Item"])] = req["Item"]
                return {}
            if action == "GetItem":
                i = self.items.get(self.key(req["Key"]))
                return {"Item": i} if i else {}
            if action == "DeleteItem":
                self.items.pop(self.key(req["Key"]), None)
                return {}
            if action == "Query":
                t = req["ExpressionAttributeValues"][":t"]["S"]
                found = [v for (pt, _), v in sorted(self.items.items()) if pt == t]
                return {"Items": found, "Count": len(found)}
            if action == "TransactWriteItems":
                for op in req["TransactItems"]:
                    if "Put" in op:
                        self.items[self.key(op["Put"]["Item"])] = op["Put"]["Item"]
                    elif "Delete" in op:
                        self.items.pop(self.key(op["Delete"]["Key"]), None)
                return {}
        return None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        action = self.headers.get("x-amz-target", "").split(".")[-1]
        req = json.loads(body or b"{}")
        k = req.get("Key") or req.get("Item") or {}
        what = k.get("t", {}).get("S") or "-"
        with self.lock:
            Dynamo.calls[f"{action} {what}"] = Dynamo.calls.get(f"{action} {what}", 0) + 1
        out = None
        if k.get("t", {}).get("S") != "lease":
            out = self.local(action, req)
        if out is None:
            fwd = urllib.request.Request(self.moto, data=body, method="POST",
                                         headers={h: v for h, v in self.headers.items()
                                                  if h.lower() not in ("host", "content-length")})
            try:
                with urllib.request.urlopen(fwd) as r:
                    status, data = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
        else:
            status, data = 200, json.dumps(out).encode()
        self.wfile.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.0\r\n"
                         f"content-length: {len(data)}\r\n\r\n".encode() + data)

    def log_message(self, *a):
        pass


class Sqs(http.server.BaseHTTPRequestHandler):
    """SQS in memory (JSON protocol): visibility timeouts and long polls as SQS keeps them, and
    the calls counted by action (the SQS calls per alert)."""
    protocol_version = "HTTP/1.1"
    queues = {}  # url -> list of [id, body, receipt, visible_at]
    calls = {}  # action -> count
    cond = threading.Condition()
    n = 0

    def act(self, action, req):
        c = Sqs.cond
        with c:
            if action == "CreateQueue":
                url = f"http://127.0.0.1:{self.server.server_address[1]}/{ACCOUNT}/{req['QueueName']}"
                Sqs.queues.setdefault(url, [])
                return {"QueueUrl": url}
            q = Sqs.queues[req["QueueUrl"]]
            if action == "SendMessageBatch":
                for e in req["Entries"]:
                    Sqs.n += 1
                    q.append([f"m{Sqs.n}", e["MessageBody"], "", 0.0])
                c.notify_all()
                return {"Successful": [{"Id": e["Id"]} for e in req["Entries"]], "Failed": []}
            if action == "ReceiveMessage":
                end = time.time() + req.get("WaitTimeSeconds", 0)
                while True:
                    now = time.time()
                    got = [m for m in q if m[3] <= now][:req.get("MaxNumberOfMessages", 1)]
                    if got or now >= end:
                        break
                    c.wait(min(end - now, min((m[3] for m in q), default=end) - now + 0.01))
                out = []
                for m in got:
                    Sqs.n += 1
                    m[2], m[3] = f"r{Sqs.n}", now + req.get("VisibilityTimeout", 30)
                    out.append({"MessageId": m[0], "ReceiptHandle": m[2], "Body": m[1]})
                return {"Messages": out}
            if action == "DeleteMessage":
                q[:] = [m for m in q if m[2] != req["ReceiptHandle"]]
                return {}
            if action == "ChangeMessageVisibility":
                for m in q:
                    if m[2] == req["ReceiptHandle"]:
                        m[3] = time.time() + req["VisibilityTimeout"]
                c.notify_all()
                return {}
            if action == "GetQueueAttributes":
                now = time.time()
                return {"Attributes": {"ApproximateNumberOfMessages": str(sum(m[3] <= now for m in q)),
                                       "ApproximateNumberOfMessagesNotVisible": str(sum(m[3] > now for m in q)),
                                       "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"}}
        return {}

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        action = self.headers.get("x-amz-target", "").split(".")[-1]
        with Sqs.cond:
            Sqs.calls[action] = Sqs.calls.get(action, 0) + 1
        data = json.dumps(self.act(action, req)).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n"
                         + f"content-length: {len(data)}\r\n\r\n".encode() + data)

    def log_message(self, *a):
        pass


class Hook(http.server.BaseHTTPRequestHandler):
    """The Dooray webhook: counts the alerts (each names its event ID in its text)."""
    protocol_version = "HTTP/1.1"
    ids = []
    times = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        with self.lock:
            for i in set(re.findall(r"obj-\d{5}", body)):
                Hook.ids.append(i)
            Hook.times.append(time.perf_counter())
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    def log_message(self, *a):
        pass


def serve(handler):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A process stopped mid-request resets its connection: not worth a traceback.
    s.handle_error = lambda *a: None
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s, f"http://127.0.0.1:{s.server_address[1]}"


def sqs(moto, action, body):
    r = urllib.request.Request(moto, data=json.dumps(body).encode(), method="POST", headers={
        "x-amz-target": f"AmazonSQS.{action}", "content-type": "application/x-amz-json-1.0",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(r) as resp:
        return json.loads(resp.read() or b"{}")


def raised(port):
    """The alerts the holder raised so far (its metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
        text = r.read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("trailwatch_alerts_raised_total{"))


def send(moto, queue, keys):
    for i in range(0, len(keys), 10):
        entries = [{"Id": str(j), "MessageBody": json.dumps({"Records": [{
            "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "bench-instances"}, "object": {"key": k, "size": 300}}}]})}
            for j, k in enumerate(keys[i:i + 10])]
        sqs(moto, "SendMessageBatch", {"QueueUrl": queue, "Entries": entries})


def fill(moto):
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=moto, region_name=REGION, aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key="secret", config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="bench-instances")
    # Named two hours back: the holder's first listing (from now minus `overlap`) does not
    # reach them; only the notifications announce them.
    now = time.time() - 7200
    keys = []
    for i in range(B):
        t = time.gmtime(now + i)
        day, stamp = time.strftime("%Y/%m/%d", t), time.strftime("%Y%m%dT%H%MZ", t)
        key = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day}/{ACCOUNT}_CloudTrail_{REGION}_{stamp}_{i:05d}.json.gz"
        rec = {"eventVersion": "1.08", "eventID": f"obj-{i:05d}", "eventName": "CreateUser",
               "eventSource": "iam.amazonaws.com", "awsRegion": REGION, "eventType": "AwsApiCall",
               "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "recipientAccountId": ACCOUNT,
               "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/admin"},
               "requestParameters": {"userName": f"u{i}"}}
        import gzip
        s3.put_object(Bucket="bench-instances", Key=key, Body=gzip.compress(json.dumps({"Records": [rec]}).encode()))
        keys.append(key)
    return keys


def run(n, d, sqs_url, gate, dynamo, hook, keys, table):
    queue = sqs(sqs_url, "CreateQueue", {"QueueName": f"q-{table}"})["QueueUrl"]
    send(sqs_url, queue, keys)
    Hook.ids, Hook.times = [], []
    Sqs.calls = {}
    Dynamo.calls = {}
    procs = []
    port = free_port()
    for name in "abc"[:n]:
        cfg = pathlib.Path(d) / f"{table}-{name}.toml"
        cfg.write_text(
            f'metrics_address = "127.0.0.1:{port if name == "a" else free_port()}"\n'
            f'state_dir = "{d}/{table}-{name}"\ngroup_window = "0s"\nlanguage = "en"\n'
            f'[state]\nbackend = "dynamodb"\ntable = "{table}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{dynamo}"\ninstance = "{name}"\nlease = "3s"\n'
            f'[[sources]]\nname = "trail"\ntype = "s3"\nbucket = "bench-instances"\nregion = "{REGION}"\n'
            f'endpoint_url = "{gate}"\nendpoint_urls = {{ sqs = "{sqs_url}" }}\nqueue_url = "{queue}"\n'
            f'list_interval = "1h"\n'
            f'[[sinks]]\nname = "hook"\ntype = "dooray"\nurl = "{hook}/hook"\nmax_per_second = 0\nstorm_after = 0\n')
        if name == "a":
            subprocess.run([str(TW), "state", "init", "--config", str(cfg)], env=ENV, check=True, capture_output=True)
        want = f"instance {name} holds" if name == "a" else "shares the reading of the queue"
        # a holds the lease (the others start once it does) and the others share the reading.
        p, _ = start([str(TW), "run", "--config", str(cfg)], want, ENV)
        procs.append(p)
    t0, before = time.perf_counter(), raised(port)
    while raised(port) < len(keys) and time.perf_counter() - t0 < 600:
        time.sleep(0.02)
    took = time.perf_counter() - t0
    deadline = time.time() + 600
    while len(set(Hook.ids)) < len(keys) and time.time() < deadline:
        time.sleep(0.05)
    ids = list(Hook.ids)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)
    assert len(set(ids)) == len(keys), f"{len(set(ids))} of {len(keys)} alerted"
    time.sleep(0.5)
    dynamo = 0
    for p in procs:
        for line in p.lines:
            m = re.search(r"\((\d+) DynamoDB calls", line)
            if m:
                dynamo += int(m.group(1))
    if os.environ.get("DYNAMO_CALLS"):
        print(f"  DynamoDB calls by action: {sorted(Dynamo.calls.items())}", file=sys.stderr)
    sqs_calls = sum(v for k, v in Sqs.calls.items() if k not in ("CreateQueue", "SendMessageBatch", "GetQueueAttributes"))
    return (len(keys) - before) / took, len(ids) - len(set(ids)), dynamo / len(keys), sqs_calls / len(keys)


def main():
    moto, moto_url = start_moto()
    dmoto, dmoto_url = start_moto()
    Dynamo.moto = dmoto_url
    dyn, dyn_url = serve(Dynamo)
    hook, hook_url = serve(Hook)
    queues, sqs_url = serve(Sqs)
    if os.environ.get("BENCH_SQS") == "moto":
        sqs_url = moto_url  # moto's SQS instead of the fake (its calls are not counted)
    gate, line = start([sys.executable, str(ROOT / "tests/it/support/s3_gate.py"), moto_url, str(D)], "READY")
    gate_url = f"http://127.0.0.1:{line.split()[1]}"
    try:
        keys = fill(moto_url)
        rows = []
        with tempfile.TemporaryDirectory() as d:
            for rnd in range(int(os.environ.get("BENCH_ROUNDS", "3"))):
                for n in (1, 2, 3):
                    Dynamo.items = {}
                    rate, repeats, dyn, sq = run(n, d, sqs_url, gate_url, dyn_url, hook_url, keys, f"t{rnd}{n}")
                    rows.append((n, rate, repeats, dyn, sq))
                    print(f"  run {rnd + 1}, {n} instance(s): {rate:.0f} objects/s, {repeats} repeated, "
                          f"{dyn:.3f} DynamoDB and {sq:.2f} SQS calls per alert", file=sys.stderr)
        print(f"{B} S3 objects of one record (an alert each), announced on SQS; S3 behind a {D} ms gate; median of 3")
        base = None
        for n in (1, 2, 3):
            mine = [r for r in rows if r[0] == n]
            rates = sorted(r[1] for r in mine)
            med = rates[len(rates) // 2]
            base = base or med
            rep = sum(r[2] for r in mine)
            dyn = statistics.median(r[3] for r in mine)
            sq = statistics.median(r[4] for r in mine)
            print(f"  {n} instance{'s' if n > 1 else ' '}  {med:6.0f} objects/s  ({med / base:.2f}x one instance)  "
                  f"runs {', '.join(f'{r:.0f}' for r in rates)}  repeats {rep}  per alert: {dyn:.3f} DynamoDB, {sq:.2f} SQS calls")
    finally:
        for p in (moto, dmoto, gate):
            p.kill()


if __name__ == "__main__":
    main()
