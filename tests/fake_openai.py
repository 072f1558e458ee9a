"""A loopback OpenAI-compatible server with scripted faults, for client and runner tests.

The model name in the request (or the Azure deployment in the path) picks the behaviour:
``ok``, ``tools``, ``http-<status>``, ``rate-limited`` (429 + Retry-After: 7), ``quota``
(429 insufficient_quota), ``hang`` (answers after 5 s), ``bad-json``, and stateful ones:
``fail-500-N-<tag>`` (the first N requests get 500, then ``ok``) and ``fail-429-N-<tag>`` (the
first N get 429 with Retry-After: 1). Each request's arrival time is recorded. A 401 echoes the
key it got, as some providers do, so tests can prove the key never leaves the client.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeOpenAI:
    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(model: str, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "Reading now. <tool_call>file_reader</tool_call>",
    }
    if model == "tools":
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "file_reader", "arguments": json.dumps({"path": "a.csv"})},
                },
            ],
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def start_fake_openai() -> FakeOpenAI:
    fake: FakeOpenAI

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            return

        def _send(
            self, status: int, payload: object, headers: dict[str, str] | None = None
        ) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            model = body.get("model", "")
            if "/deployments/" in self.path:
                model = self.path.split("/deployments/")[1].split("/")[0]
            key = self.headers.get("Authorization", "").removeprefix("Bearer ") or self.headers.get(
                "api-key", ""
            )
            with fake.lock:
                fake.requests.append(
                    {
                        "path": self.path,
                        "model": model,
                        "body": body,
                        "key": key,
                        "at": time.monotonic(),
                    }
                )
                seen = sum(r["model"] == model for r in fake.requests)
            if model.startswith("fail-"):
                _, status, count, _tag = model.split("-", 3)
                if seen <= int(count):
                    headers = {"Retry-After": "1"} if status == "429" else {}
                    self._send(
                        int(status),
                        {"error": {"message": f"scripted {status}", "code": None}},
                        headers,
                    )
                    return
                model = "ok"
            if model == "hang":
                time.sleep(5)
            if model.startswith("http-"):
                status = int(model.split("-")[1])
                text = (
                    f"Incorrect API key provided: {key}" if status == 401 else f"scripted {status}"
                )
                self._send(status, {"error": {"message": text, "type": "scripted", "code": None}})
            elif model == "rate-limited":
                self._send(
                    429,
                    {
                        "error": {
                            "message": "slow down",
                            "type": "requests",
                            "code": "rate_limit_exceeded",
                        }
                    },
                    {"Retry-After": "7"},
                )
            elif model == "quota":
                self._send(
                    429,
                    {
                        "error": {
                            "message": "You exceeded your current quota",
                            "type": "insufficient_quota",
                            "code": "insufficient_quota",
                        }
                    },
                )
            elif model == "bad-json":
                self._send(200, b"{not json")
            else:
                self._send(
                    200,
                    _completion(model, body),
                    {"x-ratelimit-remaining-requests": "99", "x-ratelimit-limit-requests": "100"},
                )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake = FakeOpenAI(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake
