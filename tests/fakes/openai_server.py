"""A loopback OpenAI-compatible server that misbehaves like real providers, for tests.

Two ways to script it, combinable:

* **The model name** (or the Azure deployment in the path) picks a fixed behaviour: ``ok``,
  ``tools``, ``classify-<category>`` (an error classifier's JSON verdict naming the category),
  ``http-<status>``, ``rate-limited`` (429 + Retry-After: 7), ``quota`` (429
  insufficient_quota), ``hang`` (answers after 5 s), ``bad-json``, and stateful ones:
  ``fail-500-N-<tag>`` (the first N requests get 500, then ``ok``), ``fail-429-N-<tag>`` (the
  first N get 429 with Retry-After: 1), and ``retry-<status>-<form>-<tag>`` (the first request gets
  ``<status>`` with a wait of about a second in the ``<form>`` ``seconds``, ``date`` or ``ms``; the
  request log entry's ``retry_at`` holds the wall-clock time it asked for), and the bad values
  of ``BAD_REPLIES`` (``bad-negative-tokens``, ``bad-huge-tokens``, ``bad-overflow-tokens``,
  ``bad-no-choices``, ``bad-error-body``, ``bad-no-message``, ``bad-surrogate-400``,
  ``bad-nested``, ``bad-huge-reply``).
* **A ``FakeOptions``** for the whole server: replies slowed per model, random faults at a rate
  (429 and 503 with Retry-After, 500 without), a real token bucket of requests and tokens per
  minute that starts full and refuses with 429 when empty (its ``x-ratelimit-*`` headers on every
  reply, a quota-exhausted body if asked), and a load-driven quota (429 beyond N in flight).

Each request's arrival (monotonic ``at`` and wall-clock ``wall``), model, key and answer status
are logged in ``requests``. A 401 echoes the key it got, as some providers do, so tests can
prove the key never leaves the client.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

RetryAfterForm = Literal["seconds", "date", "ms"]


@dataclass(frozen=True)
class FakeOptions:
    """How the whole server misbehaves (model-name scripts still apply on top)."""

    latency_s: float = 0.0
    latency_by_model: Mapping[str, float] = field(default_factory=dict)
    fault_rate_429: float = 0.0
    fault_rate_500: float = 0.0
    fault_rate_503: float = 0.0
    retry_after_s: float = 1.0
    retry_after_form: RetryAfterForm = "seconds"
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    quota_body: bool = False
    rate_headers: bool = True
    max_in_flight: int | None = None
    seed: int = 0


@dataclass
class _Bucket:
    """A provider's bucket: starts full, refills continuously, never above one minute."""

    per_minute: float
    level: float
    updated: float

    def take(self, amount: float, now: float) -> bool:
        self.level = min(self.per_minute, self.level + (now - self.updated) * self.per_minute / 60)
        self.updated = now
        if self.level >= amount:
            self.level -= amount
            return True
        return False

    def wait_s(self, amount: float) -> float:
        return max(0.0, amount - self.level) / (self.per_minute / 60)

    def headers(self, kind: str) -> dict[str, str]:
        full_in_s = (self.per_minute - self.level) / (self.per_minute / 60)
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.per_minute)),
            f"x-ratelimit-remaining-{kind}": str(max(0, math.floor(self.level))),
            f"x-ratelimit-reset-{kind}": f"{full_in_s:.3f}s",
        }


@dataclass
class FakeOpenAI:
    server: ThreadingHTTPServer
    options: FakeOptions = field(default_factory=FakeOptions)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: dict[str, int] = field(default_factory=dict)
    peak_in_flight: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{self.endpoint}/v1"

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answered(self, model: str | None = None) -> dict[int, int]:
        """How many requests (of ``model``, or all) got each status."""
        counts: dict[int, int] = {}
        with self.lock:
            for request in self.requests:
                if model is None or request["model"] == model:
                    counts[request["status"]] = counts.get(request["status"], 0) + 1
        return counts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def retry_after_headers(seconds: float, form: RetryAfterForm) -> tuple[dict[str, str], float]:
    """Headers asking for a wait of about ``seconds``; and the wall time they ask for."""
    now = time.time()
    if form == "ms":
        return {"retry-after-ms": str(round(seconds * 1000))}, now + seconds
    if form == "date":
        until = math.ceil(now + seconds)  # HTTP dates have whole seconds
        return {"Retry-After": email.utils.formatdate(until, usegmt=True)}, until
    whole = math.ceil(seconds)
    return {"Retry-After": str(whole)}, now + whole


def _completion(model: str, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "Reading now. <tool_call>file_reader</tool_call>",
    }
    if model.startswith("classify-"):  # an error classifier naming the category in its name
        verdict = {"error_type": model.removeprefix("classify-"), "confidence": 0.9}
        message = {"role": "assistant", "content": json.dumps({**verdict, "reasoning": "scripted"})}
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


def _with_usage(**usage: int) -> bytes:
    reply = _completion("ok", {})
    reply["usage"] = {**reply["usage"], **usage}
    return json.dumps(reply).encode()


NESTING = 100_000  # far deeper than any JSON parser's recursion limit
# model name → (status, body as sent): each a value a real provider has been seen to send
BAD_REPLIES: dict[str, tuple[int, bytes]] = {
    "bad-negative-tokens": (200, _with_usage(prompt_tokens=-10_000_000)),
    "bad-huge-tokens": (200, _with_usage(completion_tokens=2**62)),  # a few turns overflow int64
    "bad-overflow-tokens": (200, _with_usage(completion_tokens=2**64)),
    "bad-no-choices": (200, b'{"id": "x", "choices": []}'),
    "bad-error-body": (200, b'{"error": {"message": "upstream overloaded"}}'),
    "bad-no-message": (200, b'{"choices": [{"index": 0, "finish_reason": "stop"}]}'),
    # json.dumps writes a lone surrogate as the escape \ud800, which every JSON parser accepts
    "bad-surrogate-400": (400, json.dumps({"error": {"message": "bad \ud800 input"}}).encode()),
    "bad-nested": (200, b"[" * NESTING + b"]" * NESTING),
    "bad-huge-reply": (200, json.dumps({"pad": "x" * (2 << 20)}).encode()),
}


def _error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "scripted", "code": code}}


TOKENS_PER_REPLY = 18
STATIC_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "100",
    "x-ratelimit-remaining-requests": "99",
    "x-ratelimit-reset-requests": "1ms",
}


class _Policy:
    """The server-wide misbehaviour of ``FakeOptions``; decides an answer before the reply."""

    def __init__(self, options: FakeOptions) -> None:
        self.options = options
        self.random = random.Random(options.seed)
        now = time.monotonic()
        rpm, tpm = options.requests_per_minute, options.tokens_per_minute
        self.requests = _Bucket(rpm, rpm, now) if rpm else None
        self.tokens = _Bucket(tpm, tpm, now) if tpm else None

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if not self.options.rate_headers:
            return headers
        for bucket, kind in ((self.requests, "requests"), (self.tokens, "tokens")):
            if bucket is not None:
                headers.update(bucket.headers(kind))
        return headers

    def refusal(self, in_flight: int) -> tuple[int, dict[str, Any], dict[str, str], float] | None:
        """(status, body, headers, retry_at) when this request is refused; None to answer it."""
        options = self.options
        draw = self.random.random()
        faults = [
            (options.fault_rate_429, 429, "random rate limit", True),
            (options.fault_rate_500, 500, "random server error", False),
            (options.fault_rate_503, 503, "random overload", True),
        ]
        for rate, status, text, waits in faults:
            if draw < rate:
                headers, retry_at = (
                    retry_after_headers(options.retry_after_s, options.retry_after_form)
                    if waits
                    else ({}, 0.0)
                )
                return status, _error(status, text, "rate_limit_exceeded"), headers, retry_at
            draw -= rate
        if options.max_in_flight is not None and in_flight > options.max_in_flight:
            headers, retry_at = retry_after_headers(0.2, "ms")
            return 429, _error(429, "too many concurrent requests"), headers, retry_at
        return self._bucket_refusal()

    def _bucket_refusal(self) -> tuple[int, dict[str, Any], dict[str, str], float] | None:
        now = time.monotonic()
        for bucket, amount in ((self.requests, 1.0), (self.tokens, float(TOKENS_PER_REPLY))):
            if bucket is not None and not bucket.take(amount, now):
                wait = bucket.wait_s(amount)
                headers = {**self.headers(), "retry-after-ms": str(math.ceil(wait * 1000))}
                text = (
                    "Requests per minute quota exhausted; try again later"
                    if self.options.quota_body
                    else "Rate limit reached; please retry"
                )
                return 429, _error(429, text, "rate_limit_exceeded"), headers, time.time() + wait
        return None


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding the fake's state and policy for its handlers."""

    fake: FakeOpenAI
    policy: _Policy


class _Handler(BaseHTTPRequestHandler):
    """One request: log it, then answer as the model name or the options say (keep-alive on)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:  # keep test output clean
        return

    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout or a cancelled run)

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        model = body.get("model", "")
        if "/deployments/" in self.path:
            model = self.path.split("/deployments/")[1].split("/")[0]
        key = self.headers.get("Authorization", "").removeprefix("Bearer ") or self.headers.get(
            "api-key", ""
        )
        entry: dict[str, Any] = {
            "path": self.path,
            "model": model,
            "body": body,
            "key": key,
            "at": time.monotonic(),
            "wall": time.time(),
            "status": 200,
        }
        with fake.lock:
            fake.requests.append(entry)
            seen = sum(r["model"] == model for r in fake.requests)
            fake.in_flight[model] = fake.in_flight.get(model, 0) + 1
            fake.peak_in_flight[model] = max(
                fake.peak_in_flight.get(model, 0), fake.in_flight[model]
            )
        try:
            status, payload, headers = self._answer(model, body, key, seen, entry)
            entry["status"] = status
            self._send(status, payload, headers)
        finally:
            with fake.lock:
                fake.in_flight[model] -= 1

    def _answer(
        self, model: str, body: dict[str, Any], key: str, seen: int, entry: dict[str, Any]
    ) -> tuple[int, object, dict[str, str]]:
        fake, policy = self.server.fake, self.server.policy
        scripted = _scripted(model, key, seen, entry)
        if scripted is not None:
            return scripted
        with fake.lock:
            refusal = policy.refusal(fake.in_flight[model])
            headers = policy.headers()
        if refusal is not None:  # refused at once, as providers do
            status, payload, refusal_headers, retry_at = refusal
            entry["retry_at"] = retry_at
            return status, payload, refusal_headers
        delay = policy.options.latency_by_model.get(model, policy.options.latency_s)
        if delay:
            time.sleep(delay)
        if model.startswith("fail-") or model.startswith("retry-"):
            model = "ok"
        if policy.requests is None and policy.tokens is None:
            headers = dict(STATIC_RATE_HEADERS)  # what the client tests expect
        return 200, _completion(model, body), headers


def start_fake_openai(options: FakeOptions | None = None) -> FakeOpenAI:
    """Serve the fake on 127.0.0.1 at a free port, in a daemon thread; ``close()`` stops it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.policy = _Policy(options or FakeOptions())
    server.fake = FakeOpenAI(server, options or FakeOptions())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.fake


def _scripted(
    model: str, key: str, seen: int, entry: dict[str, Any]
) -> tuple[int, object, dict[str, str]] | None:
    """The fixed behaviour a model name asks for, or None to answer normally."""
    if model.startswith("fail-"):
        _, status, count, _tag = model.split("-", 3)
        if seen <= int(count):
            headers = {"Retry-After": "1"} if status == "429" else {}
            return int(status), _error(int(status), f"scripted {status}"), headers
        return None
    if model.startswith("retry-"):
        _, status, form, _tag = model.split("-", 3)
        if seen == 1:
            headers, entry["retry_at"] = retry_after_headers(1.0, form)  # type: ignore[arg-type]
            return int(status), _error(int(status), f"scripted {status}"), headers
        return None
    if model == "hang":
        time.sleep(5)
        return None
    if model.startswith("http-"):
        code = int(model.split("-")[1])
        text = f"Incorrect API key provided: {key}" if code == 401 else f"scripted {code}"
        return code, _error(code, text), {}
    if model == "rate-limited":
        payload = _error(429, "slow down", "rate_limit_exceeded")
        return 429, payload, {"Retry-After": "7"}
    if model == "quota":
        payload = {
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        }
        return 429, payload, {}
    if model == "bad-json":
        return 200, b"{not json", {}
    if model in BAD_REPLIES:
        status, payload = BAD_REPLIES[model]
        return status, payload, {}
    return None
