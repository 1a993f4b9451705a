"""A throw-away RFC 3161 time-stamp authority on 127.0.0.1, built from `openssl ts -reply`.

Tests must never use a public TSA. This one makes its own CA and TSA
certificate in a temporary directory and answers each POSTed TimeStampReq by
running ``openssl ts -reply``: so what our client sends and reads is checked
against OpenSSL's own implementation.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONFIG = """
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 3
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""

TSA_EXT = """
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


class LocalTSA:
    """``with LocalTSA() as tsa:`` -> ``tsa.url``, ``tsa.ca_pem`` (the root to trust)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="adarchive-tsa-")
        self.dir = Path(self._tmp.name)
        self.requests = 0
        self._make_pki()
        self._server: ThreadingHTTPServer | None = None

    def _make_pki(self) -> None:
        d = self.dir
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=Example Test Root CA/O=Example Test", cwd=d)  # fmt: skip
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key",
             "-out", "tsa.csr", "-subj", "/CN=Example Test TSA/O=Example Test", cwd=d)  # fmt: skip
        (d / "tsa.ext").write_text(TSA_EXT)
        _run("openssl", "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext", cwd=d)  # fmt: skip
        (d / "serial").write_text("01\n")
        (d / "tsa.cnf").write_text(CONFIG.format(dir=d))

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory(dir=self.dir) as work:
            q, r = Path(work) / "q.tsq", Path(work) / "r.tsr"
            q.write_bytes(query)
            _run("openssl", "ts", "-reply", "-config", str(self.dir / "tsa.cnf"),
                 "-queryfile", str(q), "-out", str(r), cwd=self.dir)  # fmt: skip
            self.requests += 1
            return r.read_bytes()

    def start(self) -> LocalTSA:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = tsa.reply(self.rfile.read(length))
                except subprocess.CalledProcessError:
                    self.send_error(400, "bad time-stamp query")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/tsa"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> LocalTSA:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
