"""Reads one email (an .eml file as the SMTP server stored it) with Python's strict RFC 5322
parser (`email.policy.strict`: a defect is an error, as a strict receiver would refuse it) and
prints what the tests check, as JSON: the headers (decoded), each text part, each attachment.

usage: mail_check.py FILE.eml
"""
import email
import email.policy
import json
import sys

raw = open(sys.argv[1], "rb").read()
# The test server writes the envelope's recipients first: not part of the message.
if raw.startswith(b"X-Envelope-To:"):
    raw = raw.split(b"\r\n", 1)[1] if b"\r\n" in raw[:2000] else raw.split(b"\n", 1)[1]
msg = email.message_from_bytes(raw, policy=email.policy.strict)
defects = [str(d) for part in msg.walk() for d in part.defects]
out = {
    "defects": defects,
    "headers": {k: str(v) for k, v in msg.items()},
    "parts": {},
    "attachments": {},
    "structure": [p.get_content_type() for p in msg.walk()],
}
for part in msg.walk():
    if part.is_multipart():
        continue
    name = part.get_filename()
    content = part.get_content()
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if name:
        out["attachments"][name] = content
    else:
        out["parts"][part.get_content_type()] = content
print(json.dumps(out))
