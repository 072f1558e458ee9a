"""A real S3 implementation for tests (moto's server) and a look-alike that ignores preconditions.

``start_moto()`` runs ``moto.server`` in its own process on 127.0.0.1 at a free port and waits
until it answers. ``start_header_stripper(upstream)`` is a small HTTP proxy of our own in front
of it that drops ``If-None-Match`` and ``If-Match`` from every request: a store that accepts
conditional writes and ignores them, as some S3 look-alikes do (``rclone serve s3``), so every
race has several winners. ``SlowProxy(upstream, delay_s)`` forwards every request unchanged
after ``delay_s``: a store that is slow but alive.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_DROPPED = {"if-none-match", "if-match"}
_HOP = {"connection", "keep-alive", "transfer-encoding", "host"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_moto() -> MotoServer:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return MotoServer(f"http://127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto_server did not start within 60 s")


class HeaderStripper:
    """A proxy to ``upstream`` that forwards every request without its preconditions."""

    dropped: frozenset[str] = frozenset(_DROPPED)
    delay_s = 0.0

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        host, port = target.hostname or "127.0.0.1", target.port or 80
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(proxy.delay_s)
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in proxy.dropped | _HOP
                }
                headers["Host"] = f"{host}:{port}"
                upstream_conn = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream_conn.getresponse()
                    data = reply.read()
                    self.send_response(reply.status)
                    for name, value in reply.getheaders():
                        if name.lower() not in _HOP | {"content-length"}:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream_conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SlowProxy(HeaderStripper):
    """A proxy to ``upstream`` that forwards every request whole, each after ``delay_s``."""

    dropped: frozenset[str] = frozenset()

    def __init__(self, upstream: str, delay_s: float) -> None:
        self.delay_s = delay_s
        super().__init__(upstream)
