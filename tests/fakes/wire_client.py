"""A minimal OpenAI-compatible client over httpx2, classifying replies as errors.py says.

The engine's tests need a real HTTP client whose refusals carry the server's Retry-After and
``x-ratelimit-*`` headers on *every* retryable status (408, 409, 429, 5xx), as the
``RetryableProviderError`` contract states, so that arrival gaps measured at the fake server test
the engine's retry and pacing, not one client's translation. It never retries or sleeps.
"""

from __future__ import annotations

from typing import Any

import httpx2

from runbench.chat import ChatMessage, ChatRequest, ChatResponse
from runbench.clients.openai_client import QUOTA_CODES, retry_after_seconds
from runbench.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
    RetryableProviderError,
)


class WireClient:
    """One model on one fake endpoint; ``provider``/``deployment`` name it as the engine does."""

    def __init__(self, base_url: str, model: str, *, provider: str = "fake") -> None:
        self.provider = provider
        self.deployment = model
        self._url = f"{base_url}/chat/completions"
        self._http = httpx2.AsyncClient(timeout=30)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = {"model": self.deployment, "messages": [_message(m) for m in request.messages]}
        try:
            reply = await self._http.post(self._url, json=body)
        except httpx2.HTTPError as error:
            raise RetryableProviderError(
                f"connection failed: {type(error).__name__}",
                provider=self.provider,
                deployment=self.deployment,
            ) from error
        headers = {k: v for k, v in reply.headers.items() if k.lower().startswith("x-ratelimit")}
        if reply.status_code >= 400:
            raise self._error(reply.status_code, reply.json(), reply.headers, headers)
        document = reply.json()
        usage = document.get("usage") or {}
        return ChatResponse(
            text=document["choices"][0]["message"]["content"] or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            rate_limit_headers=headers,
        )

    def _error(
        self, status: int, document: Any, all_headers: Any, headers: dict[str, str]
    ) -> ProviderError:
        detail = document.get("error", {}) if isinstance(document, dict) else {}
        message = f"{self.provider}/{self.deployment}: HTTP {status}: {detail.get('message')}"
        where = {"provider": self.provider, "deployment": self.deployment}
        wait = retry_after_seconds(dict(all_headers.items()))
        if status in (401, 403):
            return AuthenticationError(message, **where)
        if status == 429 and detail.get("code") in QUOTA_CODES:
            return QuotaExhaustedError(message, **where)
        if status == 429:
            return RateLimitedError(
                message, retry_after_s=wait, rate_limit_headers=headers, **where
            )
        if status in (408, 409) or status >= 500:
            return RetryableProviderError(
                message, retry_after_s=wait, rate_limit_headers=headers, **where
            )
        return BadRequestError(message, **where)

    async def aclose(self) -> None:
        await self._http.aclose()


def _message(message: ChatMessage) -> dict[str, Any]:
    return {"role": message.role, "content": message.content}
