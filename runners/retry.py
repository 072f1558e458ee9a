"""The only retry loop in runbench: Retry-After when the server gives one, else growing backoff.

Clients classify failures (``RetryableProviderError`` and its ``RateLimitedError``); this module
decides how long to wait and how often to try. The server's Retry-After is honoured on every
retryable status (408, 409, 429, 5xx) by the request that got it: the wait is what it asked plus
up to 5 % (so requests refused together do not return together), never shorter. The server
knows when it will have room; adding our own backoff on top only makes the run slower.

Without one, the ``n``-th such wait of a request is base·2^n stretched by a random 0–50 %, so
these waits grow from one retry to the next (each window starts above the previous one's end:
a later wait is at least 4/3 of the earlier one) while retries of many requests still spread
out. Full jitter over [0, base·2^n] would spread them as well, but about half the time it drew
a second wait shorter than the first: to the server that is no backoff at all. ``n`` counts
only the waits without Retry-After, so a request that had a 429 with Retry-After and then a
plain 500 retries the 500 soon, as an endpoint that otherwise answers deserves.

The cap is low (4 s) because a random fault is not an outage: under a steady fault rate a
request that fails four times in a row is bad luck, and a 30 s cap made one such request hold
a whole run hostage after every other test was done. An endpoint that is really down is
found by pre-flight and by its other requests failing too; one request's waits need not.
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

JITTER = 0.5  # each backoff is stretched by up to this share: below 1, so windows never overlap
RETRY_AFTER_JITTER = 0.05  # what a Retry-After wait adds at most, to spread a refused burst


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many retries, and the waits: Retry-After (+0–5 %), else base·2^n·(1 + 0–50 %), capped.

    A policy with zero delays makes tests fast without patching ``sleep``; Retry-After still
    applies, since a server that asks for a wait must get it.
    """

    max_retries: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0

    def delay_s(
        self,
        backoffs: int,
        retry_after_s: float | None,
        rng: random.Random,
        previous_s: float = 0.0,
    ) -> float:
        """The next wait of a request that already waited ``backoffs`` times without Retry-After.

        Without Retry-After the wait is never below ``previous_s``, that request's last such
        wait; with it, never below what the server asked (nor below the base, for a
        ``Retry-After: 0`` that would otherwise make a retry storm).
        """
        if retry_after_s is not None:
            floor = max(retry_after_s, self.base_delay_s)
            return floor * (1.0 + RETRY_AFTER_JITTER * rng.random())
        backoff = self.base_delay_s * 2**backoffs * (1.0 + JITTER * rng.random())
        return max(min(self.max_delay_s, backoff), previous_s)


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
    retry = backoffs = 0
    previous = 0.0
    while True:
        try:
            return await call()
        except RetryableProviderError as error:
            if retry >= policy.max_retries:
                raise
            delay = policy.delay_s(backoffs, error.retry_after_s, generator, previous)
            if error.retry_after_s is None:
                backoffs, previous = backoffs + 1, delay
            if on_retry is not None:
                await on_retry(error, delay)
            await sleep(delay)
            retry += 1
