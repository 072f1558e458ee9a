"""OpenAI-compatible and Azure OpenAI chat models: the SDK configures, aiohttp carries.

Why this split. The ``openai`` SDK knows how to reach a provider: the base URL, Azure's
``/openai/deployments/<name>`` path and ``api-version`` query, the ``Authorization`` or ``api-key``
header, and the exception class for each status. That is read from it once, when the client is
built. Its request path, though, is too slow for a benchmark runner: ``chat.completions.create``
walks every message of the conversation through its parameter transform on every turn (45 % of
runbench's CPU, bench/RESULTS.md) and even its low-level ``post`` with a pre-encoded body spends
~1 ms per request copying options and building headers. Measured on this machine kind (64 in
flight, 100 ms replies, multi-turn bodies): ``create`` 3.1 ms CPU per request, ``post`` 1.0–1.2 ms,
a bare httpx2 loop 0.6 ms, a bare aiohttp loop 0.16–0.25 ms. So each request is one
``json.dumps`` of the body and one aiohttp POST on a pooled connection; nothing else grows
with the conversation.

Failures are classified here and nowhere else: an HTTP status becomes the SDK's own exception
class (``_make_status_error_from_response``) and then a runbench ``ProviderError`` through
``translate_error``; an aiohttp failure goes through ``translate_transport_error``. The whole
request — connect, send, read to the last byte — runs under one ``asyncio.timeout`` of the
deployment's ``request_timeout_s``, so a server that drips a byte at a time is cut on time.
Every text that leaves the client (reply, tool-call arguments, error) is redacted for the key
in each form it may take on the wire. The SDK's retries never run: runbench's retry layer is
the only one.

Values are checked here, where a reply enters: a reply above ``max_reply_bytes`` is not read
past the cap (``ReplyTooLargeError``, so a runaway reply is never re-sent on every later turn);
a 200 without an answer — unreadable JSON (the real exception named), JSON nested too deep, no
choices, no message, an error body — is an ``UnusableReplyError``, retried and never judged;
a token count the store cannot hold is dropped with a warning; text UTF-8 cannot store (a lone
surrogate from a JSON escape) is escaped (``runbench.records.storable_text``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runbench.chat import ChatMessage, ChatRequest, ChatResponse, ToolCall
from runbench.config import DeploymentConfig, ModelConfig
from runbench.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    InvalidRequestError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    ReplyTooLargeError,
    RequestTimeoutError,
    RetryableProviderError,
    UnusableReplyError,
)
from runbench.records import storable_count, storable_text
from runbench.redact import Redactor

if TYPE_CHECKING:
    import aiohttp
    import openai

QUOTA_CODES = ("insufficient_quota", "quota_exceeded", "billing_hard_limit_reached")
# A 400 the same request will always get: recorded as invalid_request, not re-run on resume.
INVALID_REQUEST_CODES = (
    "context_length_exceeded",
    "string_above_max_length",
    "unsupported_parameter",
    "unsupported_value",
)
INVALID_REQUEST_PHRASES = (
    "maximum context length",
    "context length",
    "context window",
    "too many tokens",
    "unsupported parameter",
    "unsupported value",
    "is not supported with this model",
    "unrecognized request argument",
)
CHAT_PATH = "chat/completions"
READ_CHUNK = 1 << 16
MESSAGE_CHARS = 500  # an error's text kept in a message: a record's error_message is short
# a JSON escape of a UTF-16 surrogate: the only way a decoded reply can hold text UTF-8 cannot
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

log = logging.getLogger(__name__)


class OpenAIChatClient:
    """One deployment of one model on an OpenAI-compatible or Azure endpoint."""

    def __init__(self, model: ModelConfig, deployment: DeploymentConfig, key: str) -> None:
        import openai

        self.model = model
        self.provider = deployment.provider
        self.deployment = deployment.name
        self.request_timeout_s = deployment.request_timeout_s
        self._connect_timeout_s = deployment.connect_timeout_s
        self._connections = deployment.limits.max_concurrency
        self.max_reply_bytes = deployment.max_reply_bytes
        self._warned: set[tuple[str, str]] = set()  # (test, field): one warning per test
        self._redactor = Redactor([key])
        self._sdk: openai.AsyncOpenAI
        if deployment.kind == "azure":
            self._sdk = openai.AsyncAzureOpenAI(
                azure_endpoint=deployment.endpoint or "",  # config requires it for azure
                azure_deployment=deployment.name,
                api_version=deployment.api_version,
                api_key=key,
                max_retries=0,
            )
        else:
            self._sdk = openai.AsyncOpenAI(base_url=deployment.base_url, api_key=key, max_retries=0)
        self.url = _endpoint_url(self._sdk)
        self._headers = {
            name: value
            for name, value in {**self._sdk.default_headers, **self._sdk.auth_headers}.items()
            if isinstance(value, str)
        }
        self._settings: dict[str, Any] = {"model": self.deployment}
        if model.temperature is not None:
            self._settings["temperature"] = model.temperature
        if model.max_tokens is not None:
            self._settings["max_tokens"] = model.max_tokens
        self._session: aiohttp.ClientSession | None = None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion, bounded as a whole by the request timeout.

        Raises:
            ProviderError: a subclass saying whether and when to retry; the key is never in it.
        """
        import aiohttp

        payload: dict[str, Any] = {"messages": [_message(m) for m in request.messages]}
        payload.update(self._settings)
        if request.tools:
            payload["tools"] = list(request.tools)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        session = self._session or self._open()
        try:
            async with (
                asyncio.timeout(self.request_timeout_s),
                session.post(self.url, data=body, headers=self._headers) as response,
            ):
                content = await _read_capped(response, self.max_reply_bytes)
                status, headers = response.status, response.headers
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self.provider}/{self.deployment}: request timed out "
                f"(no complete reply within {self.request_timeout_s:g} s)",
                provider=self.provider,
                deployment=self.deployment,
            ) from None
        except aiohttp.ClientError as error:
            raise translate_transport_error(
                error, self.provider, self.deployment, self._redactor
            ) from None
        except OSError as error:  # a socket error aiohttp did not wrap
            raise RetryableProviderError(
                self._redactor.message(
                    f"{self.provider}/{self.deployment}: connection failed "
                    f"({type(error).__name__}: {_reason(error)})"
                ),
                provider=self.provider,
                deployment=self.deployment,
            ) from None
        if content is None:
            raise ReplyTooLargeError(
                f"{self.provider}/{self.deployment}: reply larger than max_reply_bytes "
                f"({self.max_reply_bytes} bytes); not read further",
                provider=self.provider,
                deployment=self.deployment,
                status_code=status,
            )
        if status >= 400:
            raise self._status_error(status, headers, content) from None
        return self._response(content, headers, request.test_id)

    async def aclose(self) -> None:
        """Close the connection pool and the SDK's own client; safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await self._sdk.close()

    def _open(self) -> aiohttp.ClientSession:
        """The pool, made on first use: aiohttp binds a session to the running event loop."""
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s),
            # trust_env stays off: it would look up ~/.netrc in a thread on every request and
            # add Basic auth beside the key; proxies, if ever needed, belong in runbench.toml
        )
        return self._session

    def _status_error(
        self, status: int, headers: Mapping[str, str], content: bytes
    ) -> ProviderError:
        """The SDK's exception for this status, translated: one path for every HTTP error."""
        import httpx2

        response = httpx2.Response(
            status,
            headers=list(headers.items()),
            content=content,
            request=httpx2.Request("POST", self.url),
        )
        sdk_error = self._sdk._make_status_error_from_response(response)
        return translate_error(sdk_error, self.provider, self.deployment, redactor=self._redactor)

    def _response(self, content: bytes, headers: Mapping[str, str], test_id: str) -> ChatResponse:
        redact = self._redactor.text
        try:
            document = json.loads(content)
            if SURROGATE_ESCAPE.search(content):
                document = _storable_json(document)
            message = self._answer(document)
            calls = tuple(
                ToolCall(
                    storable_text(str(call.get("id") or "")),
                    redact(str(call["function"].get("name") or "")),
                    _arguments(redact(str(call["function"].get("arguments") or ""))),
                )
                for call in (message.get("tool_calls") or [])
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
            )
            usage = document.get("usage")
            usage = usage if isinstance(usage, dict) else {}
            text = message.get("content") or ""
        except UnusableReplyError:
            raise
        except RecursionError:
            raise self._unusable("unreadable reply (JSON nested too deeply)") from None
        except Exception as error:  # JSONDecodeError, UnicodeDecodeError, a wrong shape
            raise self._unusable(f"unreadable reply ({type(error).__name__}: {error})") from None
        return ChatResponse(
            text=redact(text) if isinstance(text, str) else "",
            tool_calls=calls,
            prompt_tokens=self._count(usage, "prompt_tokens", test_id),
            completion_tokens=self._count(usage, "completion_tokens", test_id),
            rate_limit_headers=rate_limit_headers(headers),
        )

    def _count(self, usage: Mapping[str, object], name: str, test_id: str) -> int | None:
        """A token count the store can hold; any other number is dropped, warned once a test."""
        value = usage.get(name)
        count = storable_count(value)
        bad = count is None and isinstance(value, int | float) and not isinstance(value, bool)
        if bad and (test_id, name) not in self._warned:
            self._warned.add((test_id, name))
            log.warning(
                "test %s: usage.%s = %s is not a count the store can hold: stored as null",
                test_id[:12],
                name,
                str(value)[:24],
            )
        return count

    def _answer(self, document: object) -> dict[str, Any]:
        """The reply's message, or why this 200 holds no answer (an outage, not the model's)."""
        if not isinstance(document, dict):
            raise self._unusable(f"HTTP 200 without an answer (a JSON {type(document).__name__})")
        error = document.get("error")
        if error:
            said = error.get("message") if isinstance(error, dict) else error
            raise self._unusable(f"HTTP 200 with an error body: {said}")
        choices = document.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self._unusable("HTTP 200 without an answer (no choices)")
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            raise self._unusable("HTTP 200 without an answer (no message)")
        return message

    def _unusable(self, text: str) -> UnusableReplyError:
        return UnusableReplyError(
            _short(self._redactor.message(f"{self.provider}/{self.deployment}: {text}")),
            provider=self.provider,
            deployment=self.deployment,
            status_code=200,
        )


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed ``cap`` bytes (not read on)."""
    if response.content_length is not None and response.content_length > cap:
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(READ_CHUNK):
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


def _storable_json(value: Any) -> Any:
    """``value`` with every string made storable (only walked when the bytes hold an escape)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [_storable_json(item) for item in value]
    if isinstance(value, dict):
        return {storable_text(key): _storable_json(item) for key, item in value.items()}
    return value


def _short(text: str) -> str:
    """A message's text, cut to ``MESSAGE_CHARS`` with a mark, and storable as UTF-8."""
    text = storable_text(text)
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _endpoint_url(sdk: openai.AsyncOpenAI) -> str:
    """The chat completions URL the SDK would call, with its default query (Azure's version)."""
    from urllib.parse import urlencode

    url = str(sdk.base_url).rstrip("/") + "/" + CHAT_PATH
    query = {name: value for name, value in sdk.default_query.items() if isinstance(value, str)}
    return f"{url}?{urlencode(query)}" if query else url


def _message(message: ChatMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        payload["tool_calls"] = [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments or {})},
            }
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        payload["tool_call_id"] = message.tool_call_id
    return payload


def _arguments(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
        if "\\u" in text:
            value = _storable_json(value)
    except (ValueError, RecursionError):
        return {}  # unreadable arguments: the simulator answers INVALID_INPUT
    return value if isinstance(value, dict) else {}


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The reply's ``x-ratelimit-*`` headers, lower-cased, for the endpoint's limiter."""
    return {
        key.lower(): value
        for key, value in headers.items()
        if key.lower().startswith("x-ratelimit")
    }


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's wait hint: ``retry-after-ms``, or ``retry-after`` in seconds or as a date."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - (now if now is not None else time.time()))


def is_invalid_request(code: str, text: str) -> bool:
    """Whether a 400 says the request can never succeed as sent (context length, parameter)."""
    lowered = text.lower()
    return code in INVALID_REQUEST_CODES or any(p in lowered for p in INVALID_REQUEST_PHRASES)


def translate_error(
    error: Exception,
    provider: str,
    deployment: str,
    key: str = "",
    *,
    redactor: Redactor | None = None,
) -> ProviderError:
    """Map an SDK exception to the ProviderError tree (the one place that knows SDK types)."""
    import openai

    where = f"{provider}/{deployment}"
    scrub = redactor or Redactor([key])

    def message(text: str) -> str:
        return _short(scrub.message(f"{where}: {text}"))

    context: dict[str, Any] = {"provider": provider, "deployment": deployment}
    if isinstance(error, openai.APITimeoutError):
        return RetryableProviderError(message("request timed out"), **context)
    if isinstance(error, openai.APIConnectionError):
        return RetryableProviderError(message("connection failed"), **context)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        body = error.body if isinstance(error.body, dict) else {}
        code = str(body.get("code") or body.get("type") or "")
        text = str(body.get("message") or error.message)
        detail = message(f"HTTP {status}: {text}")
        if status in (401, 403):
            return AuthenticationError(
                detail,
                hint="check the key in the variable api_key_env names",
                status_code=status,
                **context,
            )
        if status == 429 and code in QUOTA_CODES:
            return QuotaExhaustedError(
                detail,
                hint="raise the quota or wait for it to reset",
                status_code=status,
                **context,
            )
        # Retry-After and the x-ratelimit-* headers ride on every retryable status: providers
        # send them on 503 too, and the retry layer must never come back sooner than asked
        wait_s = retry_after_seconds(error.response.headers)
        quota = rate_limit_headers(error.response.headers)
        if status == 429:
            return RateLimitedError(
                detail, retry_after_s=wait_s, rate_limit_headers=quota, **context
            )
        if status in (408, 409) or status >= 500:
            return RetryableProviderError(
                detail,
                status_code=status,
                retry_after_s=wait_s,
                rate_limit_headers=quota,
                **context,
            )
        if status == 400 and is_invalid_request(code, text):
            return InvalidRequestError(detail, status_code=status, **context)
        return BadRequestError(detail, status_code=status, **context)
    if isinstance(error, openai.APIResponseValidationError | openai.APIError | ValueError):
        return UnusableReplyError(
            message(f"unreadable reply ({type(error).__name__}: {_reason(error)})"), **context
        )
    return BadRequestError(message(f"{type(error).__name__}: {error}"), **context)


def translate_transport_error(
    error: aiohttp.ClientError, provider: str, deployment: str, redactor: Redactor
) -> ProviderError:
    """Map an aiohttp failure to the ProviderError tree, naming the reason in a few words.

    A connection that never came up (refused, unknown host, TLS) is a ``ConnectionFailedError``
    so pre-flight can call the endpoint unusable; one lost midway is an ordinary retryable error.
    """
    import aiohttp

    context: dict[str, Any] = {"provider": provider, "deployment": deployment}

    def message(text: str) -> str:
        return redactor.message(f"{provider}/{deployment}: {text}")

    host, port = getattr(error, "host", "?"), getattr(error, "port", "?")
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return ConnectionFailedError(message(f"unknown host '{host}'"), **context)
    if isinstance(error, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        cause = getattr(error, "os_error", None) or error
        return ConnectionFailedError(message(f"TLS failure: {_reason(cause)}"), **context)
    if isinstance(error, aiohttp.ClientProxyConnectionError):
        reason = f"proxy connection failed: {_reason(error)}"
        return ConnectionFailedError(message(reason), **context)
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = getattr(error, "os_error", None)
        if isinstance(cause, ConnectionRefusedError):
            reason = f"connection refused by {host}:{port}"
        else:
            reason = f"cannot connect to {host}:{port}: {_reason(cause)}"
        return ConnectionFailedError(message(reason), **context)
    if isinstance(error, aiohttp.InvalidURL):
        return ConnectionFailedError(message("the endpoint URL is not valid"), **context)
    if isinstance(error, aiohttp.ServerTimeoutError):
        return RequestTimeoutError(message("request timed out"), **context)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return RetryableProviderError(message(f"connection lost: {_reason(error)}"), **context)
    return RetryableProviderError(
        message(f"connection failed ({type(error).__name__}: {_reason(error)})"), **context
    )


def _reason(error: BaseException | None) -> str:
    """A short reason; never raises (a half-built exception's ``str`` may)."""
    if error is None:
        return "unknown"
    try:
        text = str(getattr(error, "strerror", None) or error)
    except Exception:  # an exception whose __str__ needs attributes it was not given
        text = ""
    return text.splitlines()[0] if text.strip() else type(error).__name__
