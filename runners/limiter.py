"""Per-endpoint limits: adaptive concurrency, request and token buckets, Retry-After pauses.

One ``EndpointLimiter`` exists per endpoint (provider × deployment) in a process and every test
on that endpoint shares it. A request waits for a concurrency slot, then for the requests-per-
minute and tokens-per-minute buckets (each starts full and refills continuously), and while a
Retry-After pause of the endpoint runs. Adaptive concurrency halves the limit on a 429 and adds
one after a streak of successes, never above the configured maximum.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from runbench.config import EndpointLimits

SUCCESS_STREAK_TO_GROW = 20
BURST_S = 2.0


@dataclass(slots=True)
class TokenBucket:
    capacity: float
    refill_per_s: float
    level: float
    updated: float

    def wait_s(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (0 if now); takes it when available."""
        self.level = min(self.capacity, self.level + (now - self.updated) * self.refill_per_s)
        self.updated = now
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.refill_per_s


def _bucket(per_minute: float, now: float) -> TokenBucket:
    capacity = max(1.0, per_minute / 60 * BURST_S)
    return TokenBucket(capacity, per_minute / 60, capacity, now)


class EndpointLimiter:
    """Admission control for one endpoint; ``async with limiter.slot(tokens):`` around a request."""

    def __init__(
        self,
        name: str,
        limits: EndpointLimits,
        *,
        adaptive: bool = True,
        requests_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.maximum = limits.max_concurrency
        self.limit = self.maximum
        self.adaptive = adaptive
        self.in_flight = 0
        self.rate_limited = 0
        self.retries = 0
        self._streak = 0
        self._paused_until = 0.0
        self._clock = clock
        self._condition = asyncio.Condition()
        self._waiting = 0
        now = clock()
        rpm = limits.requests_per_minute
        if requests_per_second is not None:
            rpm = min(rpm or 10**9, int(requests_per_second * 60)) or 1
        self._requests = _bucket(rpm, now) if rpm else None
        tpm = limits.tokens_per_minute
        self._tokens = _bucket(tpm, now) if tpm else None

    async def acquire(self, estimated_tokens: int = 0) -> None:
        if self.in_flight < self.limit and not self._waiting:  # the common case: no lock round-trip
            self.in_flight += 1
        else:
            self._waiting += 1
            try:
                async with self._condition:
                    await self._condition.wait_for(lambda: self.in_flight < self.limit)
                    self.in_flight += 1
            finally:
                self._waiting -= 1
        try:
            while True:
                wait = max(self._paused_until - self._clock(), 0.0)
                if wait == 0.0:
                    wait = self._bucket_wait(estimated_tokens)
                if wait == 0.0:
                    return
                await asyncio.sleep(wait)
        except BaseException:
            await self._release_slot()
            raise

    def _bucket_wait(self, estimated_tokens: int) -> float:
        now = self._clock()
        if self._requests is not None:
            wait = self._requests.wait_s(1, now)
            if wait:
                return wait
        if self._tokens is not None and estimated_tokens:
            return self._tokens.wait_s(estimated_tokens, now)
        return 0.0

    async def release(self, *, rate_limited: bool = False) -> None:
        if rate_limited:
            self.rate_limited += 1
            self._streak = 0
            if self.adaptive:
                self.limit = max(1, self.limit // 2)
        else:
            self._streak += 1
            if (
                self.adaptive
                and self._streak >= SUCCESS_STREAK_TO_GROW
                and self.limit < self.maximum
            ):
                self.limit += 1
                self._streak = 0
        await self._release_slot()

    async def _release_slot(self) -> None:
        self.in_flight -= 1
        if self._waiting:
            async with self._condition:
                self._condition.notify_all()

    def pause(self, seconds: float) -> None:
        """No request to this endpoint starts before ``seconds`` from now (a Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
