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
"""

from __future__ import annotations

import asyncio
import email.utils
import json
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
    RequestTimeoutError,
    RetryableProviderError,
)
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
                content = await response.read()
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
        if status >= 400:
            raise self._status_error(status, headers, content) from None
        return self._response(content, headers)

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

    def _response(self, content: bytes, headers: Mapping[str, str]) -> ChatResponse:
        redact = self._redactor.text
        try:
            document = json.loads(content)
            choices = document.get("choices") or [{}]
            message = choices[0].get("message") or {}
            calls = tuple(
                ToolCall(
                    call.get("id") or "",
                    redact(call["function"].get("name") or ""),
                    _arguments(redact(call["function"].get("arguments") or "")),
                )
                for call in (message.get("tool_calls") or [])
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
            )
            usage = document.get("usage") or {}
            text = message.get("content") or ""
        except (ValueError, AttributeError, TypeError, IndexError) as error:
            raise translate_error(
                ValueError(f"unreadable response ({type(error).__name__})"),
                self.provider,
                self.deployment,
                redactor=self._redactor,
            ) from None
        return ChatResponse(
            text=redact(text) if isinstance(text, str) else "",
            tool_calls=calls,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            rate_limit_headers=rate_limit_headers(headers),
        )


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
    except json.JSONDecodeError:
        return {}  # unreadable arguments: the simulator answers INVALID_INPUT
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
        return scrub.message(f"{where}: {text}")

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
        return RetryableProviderError(
            message(f"unreadable response ({type(error).__name__})"), **context
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
