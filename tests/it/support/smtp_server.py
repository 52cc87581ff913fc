"""A real SMTP server for the email tests: aiosmtpd with STARTTLS (required) and AUTH
(required), on a free loopback port, with a certificate from a test CA made here. Every message
received is written to OUT_DIR as an .eml file. Prints "READY <port> <cert.pem>" when listening.

usage: smtp_server.py OUT_DIR USER PASSWORD [starttls|tls|hang]
("tls": implicit TLS from the first byte, as on port 465, instead of STARTTLS; "hang": plain
SMTP that sends its greeting and then never answers EHLO.)
"""
import asyncio
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out_dir, user, password = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
mode = sys.argv[4] if len(sys.argv) > 4 else "starttls"

now = datetime.datetime.now(datetime.timezone.utc)


def make(subject, issuer_name, issuer_key, public_key, ca, san=None):
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer_name).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


# A test CA (what the client trusts through ca_file) and the server's certificate signed by it.
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trailwatch test CA")])
ca_cert = make(ca_name, ca_name, ca_key, ca_key.public_key(), True)
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
cert = make(name, ca_name, ca_key, key.public_key(), False,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
cert_path = os.path.join(out_dir, "server.pem")
ca_path = os.path.join(out_dir, "ca.pem")
key_path = os.path.join(out_dir, "key.pem")
with open(cert_path, "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
with open(ca_path, "wb") as f:
    f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
with open(key_path, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert_path, key_path)

counter = [0]
lock = threading.Lock()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            counter[0] += 1
            n = counter[0]
        path = os.path.join(out_dir, f"msg-{n:04}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 OK"


class Hang:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        await asyncio.Event().wait()  # never answers
        return responses


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
    # handled=False: a refusal is answered with 535 (aiosmtpd would otherwise say nothing).
    return AuthResult(success=ok, handled=False)


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
if mode == "hang":
    controller = Controller(Hang(), hostname="127.0.0.1", port=port)
elif mode == "tls":
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=ctx,
                            auth_required=True, authenticator=authenticator, auth_require_tls=False)
else:
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, auth_required=True, authenticator=authenticator,
                            auth_require_tls=True)
controller.start()
print(f"READY {port} {ca_path}", flush=True)
sys.stdin.read()  # until the test ends
controller.stop()
