"""A model client behind its endpoint's limiter, the retry loop and the request timeout.

Every attempt holds a limiter slot only while the request is on the wire (a retry's wait holds
nothing), and tells the limiter what the reply said through its one hook, ``observe``. The
counts people read (429s, retries, attempts) go to the endpoint's progress object.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re

from runbench.chat import ChatRequest, ChatResponse, ModelClient
from runbench.errors import RateLimitedError, RequestTimeoutError, RetryableProviderError
from runbench.runners.jobs import RunOptions
from runbench.runners.limiter import EndpointLimiter, Reply, exhausted_pause_s
from runbench.runners.retry import call_with_retries
from runbench.runners.summary import EndpointProgress

log = logging.getLogger(__name__)

# what providers write in a 429 body when a quota (not a momentary overload) is used up: OpenAI
# and compatible servers say "quota", Azure "exceeded token rate limit" / "exceeded call rate limit"
QUOTA_WORDING = re.compile(
    r"quota|exhausted|exceeded (?:the )?(?:token |call |request )?rate limit"
)
DEFAULT_QUOTA_PAUSE_S = 1.0


def refusal_reply(error: RetryableProviderError) -> Reply:
    """What a retryable refusal tells the limiter.

    Only a 429 is congestion. Only a provider that says its quota is exhausted — remaining 0 with
    a reset in its headers, or a 429 body saying so — pauses the whole endpoint; any other
    refusal waits in the request that got it.
    """
    if not isinstance(error, RateLimitedError):
        return Reply(headers=error.rate_limit_headers, failed=True)
    pause = exhausted_pause_s(error.rate_limit_headers)
    if pause is None and QUOTA_WORDING.search(error.message.lower()):
        pause = error.retry_after_s or DEFAULT_QUOTA_PAUSE_S
    if pause is not None and error.retry_after_s is not None:
        pause = min(pause, error.retry_after_s)
    return Reply(headers=error.rate_limit_headers, congested=True, pause_s=pause)


def success_reply(response: ChatResponse) -> Reply:
    """What a success tells the limiter: the provider's headers and the tokens it counted."""
    used = (response.prompt_tokens or 0) + (response.completion_tokens or 0)
    return Reply(headers=response.rate_limit_headers, tokens_used=used or None)


class LimitedClient:
    """One test's view of an endpoint: ``complete`` waits, retries and counts as the run says."""

    def __init__(
        self,
        inner: ModelClient,
        limiter: EndpointLimiter,
        progress: EndpointProgress,
        options: RunOptions,
    ) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.deployment = inner.deployment
        self.limiter = limiter
        self.progress = progress
        self.options = options
        self.retries = 0
        self._rng: random.Random | None = None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One chat completion, retried per the run's policy.

        Raises:
            ProviderError: the last failure once retries are spent, or one never retried.
        """
        if self._rng is None:  # seeded once per test, so a rerun draws the same waits
            self._rng = random.Random(request.test_id)
        return await call_with_retries(
            lambda: self._attempt(request),
            self.options.retry,
            on_retry=self._count_retry,
            rng=self._rng,
        )

    async def aclose(self) -> None:
        """Nothing to close: the inner client belongs to the run, not to one test."""

    async def _attempt(self, request: ChatRequest) -> ChatResponse:
        async with self.limiter.slot() as slot:
            self.progress.attempts += 1
            log.debug(
                "request %s/%s test %s: %d messages (limit %d, %d in flight)",
                self.provider,
                self.deployment,
                request.test_id[:12],
                len(request.messages),
                self.progress.limit,
                self.progress.in_flight,
            )
            try:
                response = await self._send(request)
            except RetryableProviderError as error:
                self.progress.rate_limited += isinstance(error, RateLimitedError)
                self.limiter.observe(slot, refusal_reply(error))
                raise
            self.limiter.observe(slot, success_reply(response))
            return response

    async def _send(self, request: ChatRequest) -> ChatResponse:
        timeout_s = self.options.request_timeout_s
        if timeout_s is None:  # the client's own timeouts apply
            return await self.inner.complete(request)
        try:
            async with asyncio.timeout(timeout_s):
                return await self.inner.complete(request)
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self.provider}/{self.deployment}: request timed out after {timeout_s:g} s",
                provider=self.provider,
                deployment=self.deployment,
            ) from None

    async def _count_retry(self, error: RetryableProviderError, delay_s: float) -> None:
        self.retries += 1
        self.progress.retries += 1
        log.debug("retry %d in %.2f s after: %s", self.retries, delay_s, error.message)
