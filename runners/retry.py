"""The only retry loop in runbench: growing, jittered backoff, capped low, at least Retry-After.

Clients classify failures (``RetryableProviderError`` and its ``RateLimitedError``); this module
decides how long to wait and how often to try. The server's Retry-After is honoured on every
retryable status (408, 409, 429, 5xx) by the request that got it: the wait is never shorter.

Without one, retry ``n`` of a request waits base·2^n stretched by a random 0–50 %, so the waits
of one request grow from one retry to the next (each window starts above the previous one's
end: a later wait is at least 4/3 of the earlier one) while retries of many requests still
spread out. Full jitter over [0, base·2^n] would spread them as well, but about half the time
it drew a second wait shorter than the first: to the server that is no backoff at all. No wait
is ever shorter than the one before it, even after a long Retry-After.

The cap is low (4 s) because a random fault is not an outage: under a steady fault rate a
request that fails four times in a row is bad luck, and a 30 s cap made one such request hold
a whole run hostage after every other test was done. An endpoint that is really down is
found by its other requests failing too (and pre-flight); one request's waits need not.
Errors that retrying cannot fix — bad requests, rejected credentials, exhausted quota — are
re-raised at once. Tests pass a policy with zero waits instead of patching sleeps.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from runbench.errors import RetryableProviderError

T = TypeVar("T")

JITTER = 0.5  # each wait is stretched by up to this share: below 1, so windows never overlap


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many retries, and the backoff: base·2^n·(1 + 0–50 %), capped, ≥ Retry-After.

    A policy with zero delays makes tests fast without patching ``sleep``; Retry-After still
    applies, since a server that asks for a wait must get it.
    """

    max_retries: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0

    def delay_s(
        self,
        retry: int,
        retry_after_s: float | None,
        rng: random.Random,
        previous_s: float = 0.0,
    ) -> float:
        """The wait before retry ``retry`` (0 = the first), never below ``previous_s``."""
        backoff = self.base_delay_s * 2**retry * (1.0 + JITTER * rng.random())
        return max(min(self.max_delay_s, backoff), retry_after_s or 0.0, previous_s)


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
    previous = 0.0
    while True:
        try:
            return await call()
        except RetryableProviderError as error:
            if retry >= policy.max_retries:
                raise
            delay = previous = policy.delay_s(retry, error.retry_after_s, generator, previous)
            if on_retry is not None:
                await on_retry(error, delay)
            await sleep(delay)
            retry += 1
