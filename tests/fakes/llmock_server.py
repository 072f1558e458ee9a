"""LLMock, a third-party chaos server (PyPI ``llmock``), started on 127.0.0.1 at a free port.

A server nobody here wrote, with its own judge: it journals every attempt and returns a
verdict on how the client coped (``retry_after_ignored``, ``no_backoff``, ``gave_up``,
``retry_storm``, ``retried_non_retryable``, …) at ``/_llmock/verdict``. Its chaos flags are the
whole server's, so each mix gets a process of its own; scripted faults go through its control
API (``/_llmock/scenario``). Used by the tests and by ``bench/llmock_bench.py``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

STARTUP_S = 60.0  # uvicorn and FastAPI import slowly on a busy machine


@dataclass
class LLMock:
    """A running LLMock: its base URL, control API and verdict; ``close()`` stops it."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def control(self, method: str, path: str, payload: object = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_llmock/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def verdict(self) -> dict[str, Any]:
        return dict(self.control("GET", "verdict"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "requests")["requests"])

    def reset(self) -> None:
        self.control("POST", "reset", {})

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_llmock(
    *,
    latency_ms: int = 0,
    error_rate_429: float = 0.0,
    error_rate_500: float = 0.0,
    error_rate_503: float = 0.0,
) -> LLMock:
    """Start ``llmock serve`` with this chaos mix and wait until its control API answers.

    LLMock sends ``Retry-After: 1`` (and ``retry-after-ms: 1000``) with its 429 and 503, none
    with its 500: the issue's chaos mix.
    """
    port = _free_port()
    command = [sys.executable, "-m", "llmock.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--latency-ms", str(latency_ms)]
    command += ["--error-rate-429", str(error_rate_429), "--error-rate-500", str(error_rate_500)]
    command += ["--error-rate-503", str(error_rate_503)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    server = LLMock(process, port)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            server.verdict()
            return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.close()
                raise RuntimeError(f"llmock did not start on 127.0.0.1:{port}") from None
            time.sleep(0.1)
