"""Loopback servers that misbehave the way real ones do, for the HTTP client and pre-flight.

One raw-socket HTTP/1.1 server on 127.0.0.1 at a free port; the request path or the body's
``model`` picks the behaviour:

* ``echo-<status>``: answers ``status`` with every request header echoed back, in plain text and
  base64, inside the error message (4xx/5xx) or as the assistant's reply (200), as reflecting
  proxies and debugging servers do;
* ``drip``: sends a 200's headers, then its body one byte every ``drip_interval_s``;
* ``hang``: reads the request and never answers;
* ``status-<name>``: an OpenAI-style error from ``ERRORS`` (``quota`` → 429 insufficient_quota,
  ``context`` → 400 context_length_exceeded, ``param`` → 400 unsupported_parameter, …);
* anything else: a normal completion.

Threads serve the connections and stop when the server is closed (hanging and dripping ones
notice within one interval), so a test never leaves a thread behind that blocks the run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "quota": (
        429,
        {"message": "You exceeded your current quota", "code": "insufficient_quota"},
    ),
    "context": (
        400,
        {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        },
    ),
    "param": (
        400,
        {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model.",
            "type": "invalid_request_error",
            "code": "unsupported_parameter",
        },
    ),
    "plain400": (400, {"message": "something odd", "code": None}),
    "404": (404, {"message": "The model does not exist", "code": "model_not_found"}),
    "401": (401, {"message": "Incorrect API key provided", "code": "invalid_api_key"}),
    "403": (403, {"message": "Permission denied", "code": None}),
    "500": (500, {"message": "internal", "code": None}),
}


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-h",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


@dataclass
class HostileServer:
    sock: socket.socket
    drip_interval_s: float = 0.5
    closed: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.close()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(0.5)
        with connection:
            buffer = b""
            while not self.closed.is_set():
                try:
                    request = self._read_request(connection, buffer)
                except (OSError, ValueError):
                    return
                if request is None:
                    return
                head, body, buffer = request
                if not self._answer(connection, head, body):
                    return

    def _read_request(
        self, connection: socket.socket, buffer: bytes
    ) -> tuple[dict[str, Any], bytes, bytes] | None:
        while b"\r\n\r\n" not in buffer:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if self.closed.is_set():
                    return None
                continue
            if not chunk:
                return None
            buffer += chunk
        raw_head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        length = int(
            next((v for k, v in headers.items() if k.lower() == "content-length"), "0") or 0
        )
        while len(rest) < length:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if self.closed.is_set():
                    return None
                continue
            if not chunk:
                return None
            rest += chunk
        body, remainder = rest[:length], rest[length:]
        return {"method": method, "path": path, "headers": headers}, body, remainder

    def _answer(self, connection: socket.socket, head: dict[str, Any], body: bytes) -> bool:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        path = head["path"]
        model = str(document.get("model", ""))
        if "/deployments/" in path:
            model = path.split("/deployments/")[1].split("/")[0]
        with self.lock:
            self.requests.append({**head, "model": model, "at": time.monotonic()})
        if model == "hang":
            while not self.closed.wait(0.1):
                pass
            return False
        if model == "drip":
            payload = json.dumps(completion("dripped reply")).encode()
            self._send_head(connection, 200, len(payload))
            for byte in payload:
                if self.closed.wait(self.drip_interval_s):
                    return False
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return False
            return True
        if model.startswith("echo-"):
            status = int(model.split("-", 1)[1])
            echoed = "; ".join(f"{name}: {value}" for name, value in head["headers"].items())
            encoded = base64.b64encode(echoed.encode()).decode()
            text = f"you sent {echoed} (base64 {encoded})"
            answer: dict[str, Any] = (
                completion(text)
                if status < 400
                else {"error": {"message": text, "type": "echo", "code": None}}
            )
            return self._send(connection, status, answer)
        if model.startswith("status-"):
            status, error = ERRORS[model.removeprefix("status-")]
            return self._send(connection, status, {"error": error})
        return self._send(connection, 200, completion("OK"))

    def _send_head(self, connection: socket.socket, status: int, length: int) -> None:
        connection.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )

    def _send(self, connection: socket.socket, status: int, payload: object) -> bool:
        data = json.dumps(payload).encode()
        try:
            self._send_head(connection, status, len(data))
            connection.sendall(data)
        except OSError:
            return False
        return True


def start_hostile_server(*, drip_interval_s: float = 0.5) -> HostileServer:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = HostileServer(sock, drip_interval_s)
    threading.Thread(target=server._serve, daemon=True).start()
    return server


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released): connection refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PlainTextResponder:
    """Answers every connection at once with plain HTTP: what ``https://`` to an HTTP port meets."""

    sock: socket.socket
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.sock.close()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError):
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def start_plain_text_responder() -> PlainTextResponder:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    responder = PlainTextResponder(sock)
    threading.Thread(target=responder._serve, daemon=True).start()
    return responder
