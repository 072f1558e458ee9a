"""The only retry loop in runbench: exponential backoff with full jitter, at least Retry-After.

Clients classify failures (``RetryableProviderError`` and its ``RateLimitedError``); this module
decides how long to wait and how often to try. The server's Retry-After is honoured on every
retryable status (408, 409, 429, 5xx) by the request that got it: the wait is never shorter.
Without one, the wait is drawn uniformly from [0, base·2^n] (full jitter), so retries of many
requests spread out instead of arriving in waves. Errors that retrying cannot fix — bad requests,
rejected credentials, exhausted quota — are re-raised at once. Tests pass a policy with zero waits
instead of patching sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from runbench.errors import RetryableProviderError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many retries, and the backoff: full jitter over base·2^n, capped, ≥ Retry-After.

    A policy with zero delays makes tests fast without patching ``sleep``; Retry-After still
    applies, since a server that asks for a wait must get it.
    """

    max_retries: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay_s(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        backoff = rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**retry))
        return max(backoff, retry_after_s or 0.0)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[RetryableProviderError, float], Awaitable[None]] | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await ``call()``; retry retryable failures per ``policy``; re-raise the last one.

    ``on_retry(error, delay)`` runs before each wait, e.g. to pause the endpoint on a 429.
    """
    generator = rng or random.Random()
    retry = 0
    while True:
        try:
            return await call()
        except RetryableProviderError as error:
            if retry >= policy.max_retries:
                raise
            delay = policy.delay_s(retry, error.retry_after_s, generator)
            if on_retry is not None:
                await on_retry(error, delay)
            await sleep(delay)
            retry += 1
