"""An S3 endpoint in front of moto that refuses to serve some objects, as a bucket policy or a
foreign KMS key refuses them (403 AccessDenied), and can add a delay to every request (S3 is
not on loopback). Everything else is passed to moto unchanged; path-style requests only.

usage: s3_gate.py MOTO_URL [DELAY_MS]      Prints "READY <port>" when listening.
control: PUT /__gate/deny with the key as body (refuse it); DELETE /__gate/deny (refuse none);
         PUT /__gate/slow with a key (its GETs take 5 s); DELETE /__gate/slow;
         GET /__gate/count (requests served, by method, and "started <key>" per GET of a key)
"""
import http.server
import json
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

moto = sys.argv[1].rstrip("/")
delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
denied = set()
slow = set()
counts = {}
lock = threading.Lock()

REFUSAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.</Message><RequestId>0</RequestId></Error>"""


class Gate(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, data, ctype="application/xml", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def control(self, body):
        which = denied if self.path.startswith("/__gate/deny") else slow
        if self.command == "PUT":
            which.add(body.decode())
        elif self.command == "DELETE":
            which.clear()
        with lock:
            data = json.dumps(counts).encode()
        self.reply(200, data, "application/json")

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.path.startswith("/__gate/"):
            return self.control(body)
        with lock:
            counts[self.command] = counts.get(self.command, 0) + 1
        if delay:
            time.sleep(delay)
        path = urllib.parse.urlsplit(self.path).path
        key = urllib.parse.unquote(path.split("/", 2)[2]) if path.count("/") >= 2 else ""
        if self.command == "GET" and key:
            with lock:
                counts["started " + key] = counts.get("started " + key, 0) + 1
        if self.command == "GET" and key in denied:
            return self.reply(403, REFUSAL)
        if self.command == "GET" and key in slow:
            time.sleep(5)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        req = urllib.request.Request(moto + self.path, data=body or None, headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req) as r:
                status, data, hs = r.status, r.read(), r.headers.items()
        except urllib.error.HTTPError as e:
            status, data, hs = e.code, e.read(), e.headers.items()
        keep = [(k, v) for k, v in hs if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-type", "server", "date")]
        ctype = dict((k.lower(), v) for k, v in hs).get("content-type", "application/xml")
        self.reply(status, data, ctype, keep)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Gate)
print(f"READY {srv.server_address[1]}", flush=True)
srv.serve_forever()
