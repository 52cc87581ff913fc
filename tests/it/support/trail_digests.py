"""Lays a trail out in an S3 bucket (moto) as CloudTrail delivers it with log file validation on:
log files (gzip, one CreateUser record each) and, for every hour, a digest file listing their
SHA-256, chained to the digest before it and signed (RSA PKCS#1 v1.5, SHA-256) with test keys
made here by PyPI's cryptography — then tampered with as the test asks. Prints what the fake
ListPublicKeys must answer, and the keys laid out, as JSON.

Usage: python3 trail_digests.py SPEC, SPEC a JSON object:
  endpoint, bucket, account, region, trail, home: where, and whose; org: an organization
    trail's o-ID (optional: its keys hold AWSLogs/o-ID/ACCOUNT/)
  start: the first hour (seconds since the epoch, on the hour); hours: how many; files: per hour
  keys: [{"from_hour": 0, "spki": false}, ...]  (a rotation: the key of the latest from_hour signs)
  tamper: [{"op": ..., "hour": h, "file": f}, ...]  ops: modify, append, delete_file,
    delete_digest, plant, forge_signature, alter_digest, bad_chain, gap, move_digest;
    backfill (not tampering: a file of hour h delivered late, listed by a backfill digest, a
    chain of its own), modify_late (that file changed after delivery)
"""
import base64
import gzip
import hashlib
import json
import sys
import time

import boto3
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

spec = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                  aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
B, ACC, REG = spec["bucket"], spec["account"], spec["region"]
TRAIL, HOME = spec["trail"], spec["home"]
ROOT = f"AWSLogs/{spec['org']}/{ACC}" if spec.get("org") else f"AWSLogs/{ACC}"
START, HOURS, FILES = spec["start"], spec["hours"], spec["files"]
TAMPER = spec.get("tamper", [])
try:
    s3.create_bucket(Bucket=B)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass


def ops(op):
    return [t for t in TAMPER if t["op"] == op]


def has(op, hour, file=None):
    return any(t["hour"] == hour and (file is None or t.get("file") == file) for t in ops(op))


def stamp(t, seconds=False):
    return time.strftime("%Y%m%dT%H%M%SZ" if seconds else "%Y%m%dT%H%MZ", time.gmtime(t))


def day(t):
    return time.strftime("%Y/%m/%d", time.gmtime(t))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def der(key, spki):
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo if spki else serialization.PublicFormat.PKCS1
    return key.public_key().public_bytes(serialization.Encoding.DER, fmt)


keys = []
for i, k in enumerate(spec["keys"]):
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    d = der(priv, k.get("spki", False))
    keys.append({"priv": priv, "der": d, "fingerprint": hashlib.md5(d).hexdigest(),
                 "from_hour": k["from_hour"]})
stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_at(hour):
    return [k for k in keys if k["from_hour"] <= hour][-1]


def sign(priv, text):
    return priv.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def record(eid, t):
    return {"eventVersion": "1.09", "eventID": eid, "eventTime": iso(t), "eventType": "AwsApiCall",
            "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "awsRegion": REG,
            "sourceIPAddress": "203.0.113.9", "recipientAccountId": ACC,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACC}:user/alice", "accountId": ACC},
            "requestParameters": {"userName": eid}}


def log_key(t, unique):
    return (f"{ROOT}/CloudTrail/{REG}/{day(t)}/{ACC}_CloudTrail_{REG}_{stamp(t)}_{unique}.json.gz")


def put(key, body, meta=None):
    s3.put_object(Bucket=B, Key=key, Body=body, Metadata=meta or {})


def digest_key(end, backfill=False):
    return (f"{ROOT}/CloudTrail-Digest/{REG}/{day(end)}/"
            f"{ACC}_CloudTrail-Digest_{REG}_{TRAIL}_{HOME}_{stamp(end, True)}"
            f"{'_backfill' if backfill else ''}.json.gz")


def signed(doc, dkey, end, k, previous):
    """Puts digest `doc` at `dkey`, signed by key `k` after `previous` (key, sha, sig) or
    none; returns its (key, sha, sig)."""
    content = json.dumps(doc).encode()
    sha = hashlib.sha256(content).hexdigest()
    text = f"{iso(end)}\n{B}/{dkey}\n{sha}\n{previous[2] if previous else 'null'}"
    sig = sign(k, text)
    put(dkey, gzip.compress(content), {"signature": sig, "signature-algorithm": "SHA256withRSA"})
    return (dkey, sha, sig)


out = {"logs": [], "digests": [], "keys": []}
prev = None  # (key, sha256 hex of content, signature)
for h in range(HOURS):
    begin, end = START + h * 3600, START + (h + 1) * 3600
    listed = []
    for f in range(FILES):
        t = begin + (f + 1) * 600
        key = log_key(t, f"h{h}f{f}")
        content = json.dumps({"Records": [record(f"h{h}-f{f}", t - 60)]}).encode()
        put(key, gzip.compress(content))
        listed.append({"s3Bucket": B, "s3Object": key, "hashValue": hashlib.sha256(content).hexdigest(),
                       "hashAlgorithm": "SHA-256", "newestEventTime": iso(t - 60), "oldestEventTime": iso(t - 60)})
        out["logs"].append(key)
    dkey = digest_key(end)
    k = key_at(h)
    first = prev is None or has("gap", h)
    doc = {"awsAccountId": ACC, "digestStartTime": iso(begin), "digestEndTime": iso(end),
           "digestS3Bucket": B, "digestS3Object": dkey, "digestPublicKeyFingerprint": k["fingerprint"],
           "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": None, "oldestEventTime": None,
           "previousDigestS3Bucket": None if first else B,
           "previousDigestS3Object": None if first else prev[0],
           "previousDigestHashValue": None if first else prev[1],
           "previousDigestHashAlgorithm": None if first else "SHA-256",
           "previousDigestSignature": None if first else prev[2],
           "logFiles": listed}
    if has("bad_chain", h):
        doc["previousDigestHashValue"] = "0" * 64
    content = json.dumps(doc).encode()
    sha = hashlib.sha256(content).hexdigest()
    text = f"{iso(end)}\n{B}/{dkey}\n{sha}\n{doc['previousDigestSignature'] or 'null'}"
    sig = sign(stranger if has("forge_signature", h) else k["priv"], text)
    put(dkey, gzip.compress(content), {"signature": sig, "signature-algorithm": "SHA256withRSA"})
    out["digests"].append(dkey)
    prev = (dkey, sha, sig)

# Files delivered late: each listed by a backfill digest, chained to the backfill digest
# before it (the first names none).
out["late"], prev_backfill = [], None
for t in ops("backfill"):
    h = t["hour"]
    tt = START + h * 3600 + 1500
    key = log_key(tt, "late")
    content = json.dumps({"Records": [record(f"late-{h}", tt - 60)]}).encode()
    put(key, gzip.compress(content))
    out["late"].append(key)
    end = START + (HOURS - 1) * 3600 + 1800 + 60 * len(out["late"])
    dkey = digest_key(end, backfill=True)
    k = key_at(HOURS - 1)
    doc = {"awsAccountId": ACC, "digestStartTime": iso(START + h * 3600), "digestEndTime": iso(end),
           "digestS3Bucket": B, "digestS3Object": dkey, "digestPublicKeyFingerprint": k["fingerprint"],
           "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": None, "oldestEventTime": None,
           "previousDigestS3Bucket": prev_backfill and B,
           "previousDigestS3Object": prev_backfill and prev_backfill[0],
           "previousDigestHashValue": prev_backfill and prev_backfill[1],
           "previousDigestHashAlgorithm": prev_backfill and "SHA-256",
           "previousDigestSignature": prev_backfill and prev_backfill[2],
           "logFiles": [{"s3Bucket": B, "s3Object": key, "hashValue": hashlib.sha256(content).hexdigest(),
                         "hashAlgorithm": "SHA-256", "newestEventTime": iso(tt - 60),
                         "oldestEventTime": iso(tt - 60)}]}
    prev_backfill = signed(doc, dkey, end, k["priv"], prev_backfill)
    out["digests"].append(dkey)

# What happens to the bucket after delivery.
for t in ops("modify_late"):
    put(out["late"][t["file"]], gzip.compress(json.dumps({"Records": []}).encode()))
for t in ops("modify"):
    key = out["logs"][t["hour"] * FILES + t["file"]]
    put(key, gzip.compress(json.dumps({"Records": []}).encode()))
for t in ops("append"):
    key = out["logs"][t["hour"] * FILES + t["file"]]
    body = s3.get_object(Bucket=B, Key=key)["Body"].read()
    put(key, body + gzip.compress(json.dumps({"Records": [record("appended", START)]}).encode()))
for t in ops("delete_file"):
    s3.delete_object(Bucket=B, Key=out["logs"][t["hour"] * FILES + t["file"]])
for t in ops("delete_digest"):
    s3.delete_object(Bucket=B, Key=out["digests"][t["hour"]])
for t in ops("plant"):
    tt = START + t["hour"] * 3600 + 1800
    key = log_key(tt, "planted")
    put(key, gzip.compress(json.dumps({"Records": [record("planted", tt)]}).encode()))
    out["planted"] = key
for t in ops("alter_digest"):
    dkey = out["digests"][t["hour"]]
    obj = s3.get_object(Bucket=B, Key=dkey)
    doc = json.loads(gzip.decompress(obj["Body"].read()))
    doc["logFiles"] = doc["logFiles"][1:]
    put(dkey, gzip.compress(json.dumps(doc).encode()), obj["Metadata"])
for t in ops("move_digest"):
    # A digest of another hour copied over this one (its own name inside).
    src, dst = out["digests"][t["hour"] - 1], out["digests"][t["hour"]]
    obj = s3.get_object(Bucket=B, Key=src)
    put(dst, obj["Body"].read(), obj["Metadata"])

for i, k in enumerate(keys):
    nxt = keys[i + 1]["from_hour"] if i + 1 < len(keys) else 10_000
    out["keys"].append({"der": base64.b64encode(k["der"]).decode(), "fingerprint": k["fingerprint"],
                        "from": START + k["from_hour"] * 3600 - 3600, "to": START + nxt * 3600 + 3600})
print(json.dumps(out))
