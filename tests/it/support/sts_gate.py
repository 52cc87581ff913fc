"""An STS endpoint in front of moto that refuses to assume roles in some accounts, as AWS
refuses a role that does not exist or does not trust the caller. Everything else is passed to
moto unchanged (moto lets any role be assumed).

usage: sts_gate.py MOTO_URL ACCOUNT[,ACCOUNT...]     Prints "READY <port>" when listening.
GET /__gate/count gives the requests seen, by action.
"""
import http.server
import json
import socketserver
import sys
import urllib.parse
import urllib.request

moto, denied = sys.argv[1].rstrip("/"), set(sys.argv[2].split(","))

REFUSAL = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>User: arn:aws:iam::123456789012:user/trailwatch is not authorized to perform: sts:AssumeRole on resource: {role}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"""


counts = {}


class Gate(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        # GET /__gate/count: the requests seen, by action.
        data = json.dumps(counts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        form = urllib.parse.parse_qs(body.decode())
        role = form.get("RoleArn", [""])[0]
        action = form.get("Action", ["?"])[0]
        counts[action] = counts.get(action, 0) + 1
        if form.get("Action") == ["AssumeRole"] and any(f"::{a}:" in role for a in denied):
            data = REFUSAL.format(role=role).encode()
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(moto + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req) as r:
                status, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "text/xml")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Gate)
print(f"READY {srv.server_address[1]}", flush=True)
srv.serve_forever()
