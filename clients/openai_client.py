"""OpenAI-compatible and Azure OpenAI chat models through the ``openai`` SDK's async client.

The SDK's own retries are off (``max_retries=0``): runbench's retry layer is the only one. One
``httpx2`` connection pool per client is sized to the endpoint's concurrency, with explicit
connect and read timeouts. Every SDK exception is translated here, in ``translate_error``, into
the ``ProviderError`` tree, with the key redacted from anything the server echoed back.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runbench.clients.base import ChatMessage, ChatRequest, ChatResponse, ToolCall

from runbench.config import DeploymentConfig, ModelConfig
from runbench.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    RetryableProviderError,
)
from runbench.redact import redact

if TYPE_CHECKING:
    import openai

QUOTA_CODES = ("insufficient_quota", "quota_exceeded", "billing_hard_limit_reached")


class OpenAIChatClient:
    """One deployment of one model on an OpenAI-compatible or Azure endpoint."""

    def __init__(self, model: ModelConfig, deployment: DeploymentConfig, key: str) -> None:
        import httpx2
        import openai

        self.model = model
        self.provider = deployment.provider
        self.deployment = deployment.name
        self._key = key
        connections = deployment.limits.max_concurrency
        timeout = httpx2.Timeout(deployment.request_timeout_s, connect=deployment.connect_timeout_s)
        http = httpx2.AsyncClient(
            limits=httpx2.Limits(
                max_connections=connections, max_keepalive_connections=connections
            ),
            timeout=timeout,
        )
        self._sdk: openai.AsyncOpenAI
        if deployment.kind == "azure":
            self._sdk = openai.AsyncAzureOpenAI(
                azure_endpoint=deployment.endpoint,
                api_version=deployment.api_version,
                api_key=key,
                max_retries=0,
                timeout=timeout,
                http_client=http,
            )
        else:
            self._sdk = openai.AsyncOpenAI(
                base_url=deployment.base_url,
                api_key=key,
                max_retries=0,
                timeout=timeout,
                http_client=http,
            )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion.

        Raises:
            ProviderError: a subclass saying whether and when to retry; the key is never in it.
        """
        import openai

        arguments: dict[str, Any] = {
            "model": self.deployment,
            "messages": [_message(m) for m in request.messages],
        }
        if request.tools:
            arguments["tools"] = list(request.tools)
        if self.model.temperature is not None:
            arguments["temperature"] = self.model.temperature
        if self.model.max_tokens is not None:
            arguments["max_tokens"] = self.model.max_tokens
        try:
            raw = await self._sdk.chat.completions.with_raw_response.create(**arguments)
            completion = raw.parse()
        except (openai.OpenAIError, ValueError) as error:  # ValueError: a body that is not JSON
            raise translate_error(error, self.provider, self.deployment, self._key) from None
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        calls = (
            tuple(
                ToolCall(call.id, call.function.name, _arguments(call.function.arguments))
                for call in (message.tool_calls or [])
                if getattr(call, "function", None)
            )
            if message
            else ()
        )
        usage = completion.usage
        return ChatResponse(
            text=(message.content or "") if message else "",
            tool_calls=calls,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            rate_limit_headers={
                k: v for k, v in raw.headers.items() if k.lower().startswith("x-ratelimit")
            },
        )

    async def aclose(self) -> None:
        await self._sdk.close()


def _message(message: ChatMessage) -> dict[str, Any]:
    import json

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
    import json

    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}  # unreadable arguments: the simulator answers INVALID_INPUT
    return value if isinstance(value, dict) else {}


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


def translate_error(
    error: Exception, provider: str, deployment: str, key: str = ""
) -> ProviderError:
    """Map an SDK exception to the ProviderError tree (the one place that knows SDK types)."""
    import openai

    where = f"{provider}/{deployment}"

    def message(text: str) -> str:
        return redact(f"{where}: {text}", [key])

    context = {"provider": provider, "deployment": deployment}
    if isinstance(error, openai.APITimeoutError):
        return RetryableProviderError(message("request timed out"), **context)
    if isinstance(error, openai.APIConnectionError):
        return RetryableProviderError(message("connection failed"), **context)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        body = error.body if isinstance(error.body, dict) else {}
        code = str(body.get("code") or body.get("type") or "")
        detail = message(f"HTTP {status}: {body.get('message') or error.message}")
        if status in (401, 403):
            return AuthenticationError(
                detail, hint="check the key in the variable api_key_env names", **context
            )
        if status == 429 and code in QUOTA_CODES:
            return QuotaExhaustedError(
                detail, hint="raise the quota or wait for it to reset", **context
            )
        if status == 429:
            return RateLimitedError(
                detail, retry_after_s=retry_after_seconds(error.response.headers), **context
            )
        if status in (408, 409) or status >= 500:
            return RetryableProviderError(detail, **context)
        return BadRequestError(detail, **context)
    if isinstance(error, openai.APIResponseValidationError | openai.APIError | ValueError):
        return RetryableProviderError(
            message(f"unreadable response ({type(error).__name__})"), **context
        )
    return BadRequestError(message(f"{type(error).__name__}: {error}"), **context)
