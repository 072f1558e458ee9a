"""Per-endpoint admission: adaptive concurrency, request and token buckets, quota pauses.

One ``EndpointLimiter`` exists per endpoint (provider × deployment) in a run and every request to
that endpoint goes through ``async with limiter.slot(tokens) as slot:``. A slot is granted when

1. fewer requests are in flight than the adaptive concurrency limit allows;
2. the endpoint is not paused (only a provider that says its quota is exhausted pauses it);
3. the request and token buckets hold enough. A bucket comes from what we were told (``rpm`` /
   ``tpm`` in runbench.toml: a bucket that holds a full minute and starts full, as providers
   grant it) or from what the provider says in its ``x-ratelimit-*`` headers (a mirror of the
   provider's own bucket, re-estimated from every reply).

Every reply reaches the limiter through one hook, ``observe(slot, reply)``: headers re-estimate
the mirrored buckets, a 429 lowers concurrency, a quota-exhausted reply pauses the endpoint.

Adaptive concurrency is AIMD with three rules that keep random faults from collapsing it while a
real, load-driven quota still brings it down: a 429 cuts (halves) the limit only if its request
started with the limit in full use (a refusal while fewer were in flight says nothing about the
limit); it cuts at most once per congestion window (a 429 of a request that started before the
last cut is the same congestion event); and every success adds 1/limit — one per window of
successes, with no unbroken streak needed — never above the configured maximum nor below one.

``share`` (0 < share ≤ 1) is this process's part of the endpoint's budget when several processes
use one key (ultra-parallel shards): the told buckets and the mirrored ones are scaled by it, so
together the processes stay inside the quota even when the provider sends no headers (with
headers, the provider's remaining count also tells each process what the others spent). The
``requests_per_second`` pace (``--qps``) is already per process and is not scaled.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runbench.config import EndpointLimits

if TYPE_CHECKING:
    from runbench.runners.summary import EndpointProgress

CUT_FACTOR = 0.5
SECONDS_PER_MINUTE = 60.0
RELIABLE_MISSING_SHARE = 0.1
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


@dataclass(slots=True)
class TokenBucket:
    """A bucket that refills continuously; ``level`` may go below zero when a mirror says so."""

    capacity: float
    refill_per_s: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.refill_per_s)
        self.updated = now

    def wait_s(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (0 if now); takes it when available."""
        self.refill(now)
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.refill_per_s


def told_bucket(per_minute: float, now: float) -> TokenBucket:
    """A configured rpm/tpm: holds a full minute and starts full, as providers grant it."""
    capacity = max(1.0, per_minute)
    return TokenBucket(capacity, per_minute / SECONDS_PER_MINUTE, capacity, now)


def parse_duration_s(text: str | None) -> float | None:
    """A reset header in seconds: ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h2m"`` or a number."""
    if not text:
        return None
    value = text.strip().lower()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(number) * scale[unit] for number, unit in parts)


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """One dimension (requests or tokens) of a provider's ``x-ratelimit-*`` headers."""

    limit: float | None
    remaining: float
    reset_s: float | None

    def refill_per_s(self) -> float | None:
        """The provider's refill rate: what is missing over the time until full, else limit/min.

        ``remaining`` is a whole number, so when little is missing the ratio is mostly rounding;
        then the limit is read as per minute, as OpenAI and Azure state it.
        """
        if self.limit is None:
            return None
        missing = self.limit - self.remaining
        if self.reset_s and missing >= max(1.0, self.limit * RELIABLE_MISSING_SHARE):
            return missing / self.reset_s
        return self.limit / SECONDS_PER_MINUTE


def read_quota(headers: Mapping[str, str], kind: str) -> QuotaReading | None:
    """The ``requests`` or ``tokens`` reading of the headers; None when the provider sent none."""
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        remaining = float(lowered[f"x-ratelimit-remaining-{kind}"])
        limit_text = lowered.get(f"x-ratelimit-limit-{kind}")
        limit = float(limit_text) if limit_text is not None else None
    except (KeyError, ValueError):
        return None
    return QuotaReading(
        limit, remaining, parse_duration_s(lowered.get(f"x-ratelimit-reset-{kind}"))
    )


def exhausted_pause_s(headers: Mapping[str, str]) -> float | None:
    """How long the provider says its quota stays exhausted (remaining 0 with a reset), if so."""
    pauses = [
        reading.reset_s
        for reading in (read_quota(headers, "requests"), read_quota(headers, "tokens"))
        if reading is not None and reading.remaining <= 0 and reading.reset_s
    ]
    return max(pauses) if pauses else None


@dataclass(slots=True)
class Slot:
    """One granted request: when it started, relative to cuts and to the other starts."""

    sequence: int
    window: int
    tokens: float
    at_limit: bool


@dataclass(frozen=True, slots=True)
class Reply:
    """What one request told the limiter (the argument of the one hook, ``observe``).

    ``congested`` is a 429; ``failed`` any other retryable failure (neither grows the limit).
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    congested: bool = False
    failed: bool = False
    pause_s: float | None = None
    tokens_used: int | None = None


@dataclass(slots=True)
class _Mirror:
    """Our estimate of a provider's bucket, fed by its headers; None until the first reading."""

    share: float
    bucket: TokenBucket | None = None
    freshest: int = -1

    def update(self, reading: QuotaReading, slot: Slot, started_since: float, now: float) -> None:
        """Re-estimate from a reply: its remaining, minus what we started after that request."""
        if slot.sequence < self.freshest or reading.limit is None:
            return  # an older reading than one applied, or no limit to size a bucket by
        self.freshest = slot.sequence
        capacity = reading.limit * self.share
        refill = (reading.refill_per_s() or 0.0) * self.share
        level = reading.remaining * self.share - started_since
        if self.bucket is None:
            self.bucket = TokenBucket(max(1.0, capacity), refill, level, now)
            return
        self.bucket.capacity = max(1.0, capacity)
        self.bucket.refill_per_s = refill
        self.bucket.level = min(level, self.bucket.capacity)
        self.bucket.updated = now


class AdaptiveConcurrency:
    """AIMD over the number of requests in flight, with a congestion window.

    ``window`` counts cuts; a slot remembers the window it started in, so a 429 from before
    the last cut cannot cut again.
    """

    def __init__(
        self, maximum: int, *, adaptive: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.maximum = max(1, maximum)
        self.adaptive = adaptive
        self.limit = float(self.maximum)
        self.window = 0
        self.lowest = self.maximum
        self._clock = clock
        self._since = self._changed = clock()
        self._area = 0.0

    @property
    def allowed(self) -> int:
        return max(1, math.floor(self.limit + 1e-9))  # sums of 1/n must reach the next whole

    @property
    def mean(self) -> float:
        """The time-weighted mean of the allowed concurrency since the start."""
        now = self._clock()
        elapsed = now - self._since
        if elapsed <= 0:
            return float(self.allowed)
        return (self._area + self.allowed * (now - self._changed)) / elapsed

    def on_success(self) -> None:
        """Grow additively: one per window of successes (1/limit each), no streak needed."""
        if not self.adaptive or self.limit >= self.maximum:
            return
        self._set(min(float(self.maximum), self.limit + 1.0 / self.allowed))

    def on_congestion(self, started_in_window: int, *, at_limit: bool = True) -> bool:
        """Cut once per congestion window; True when this 429 cut the limit.

        A 429 cuts only when its request started with the limit in full use: one that came
        while fewer were in flight than allowed was not caused by the limit being too high
        (a random fault, or a rate quota the buckets and Retry-After deal with).
        """
        if not self.adaptive or started_in_window < self.window or not at_limit:
            return False
        self._set(max(1.0, self.limit * CUT_FACTOR))
        self.window += 1
        return True

    def _set(self, limit: float) -> None:
        now = self._clock()
        self._area += self.allowed * (now - self._changed)
        self._changed = now
        self.limit = limit
        self.lowest = min(self.lowest, self.allowed)


class EndpointLimiter:
    """Admission control for one endpoint; ``async with limiter.slot(tokens):`` around a request.

    The limiter keeps only what admission needs (in flight, the limit, buckets, pause); counts
    for people to read (429s, retries) live on the run summary's endpoint progress.
    """

    def __init__(
        self,
        name: str,
        limits: EndpointLimits,
        *,
        workers: int | None = None,
        adaptive: bool = True,
        requests_per_second: float | None = None,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """A limiter that never allows more in flight than ``workers``, when given.

        ``workers`` is the caller's worker count, the most requests it can have in flight: the
        limit shown in summaries is then what can really happen (not 64 under --max-workers 1).
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        self.name = name
        most = limits.max_concurrency if workers is None else min(limits.max_concurrency, workers)
        self.concurrency = AdaptiveConcurrency(most, adaptive=adaptive, clock=clock)
        self.in_flight = 0
        self._share = share
        self._clock = clock
        self._sleep = sleep
        self._condition = asyncio.Condition()
        self._paused_until = 0.0
        self._started = 0
        self._tokens_per_request = 0.0
        now = clock()
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        self._told_requests = told_bucket(rpm * share, now) if rpm else None
        self._told_tokens = told_bucket(tpm * share, now) if tpm else None
        self._pace = (
            TokenBucket(max(1.0, requests_per_second), requests_per_second, 1.0, now)
            if requests_per_second
            else None
        )
        self._mirrored_requests = _Mirror(share)
        self._mirrored_tokens = _Mirror(share)

    @property
    def maximum(self) -> int:
        return self.concurrency.maximum

    @property
    def limit(self) -> int:
        """The concurrency allowed now (the adaptive limit, rounded down)."""
        return self.concurrency.allowed

    @property
    def mean_limit(self) -> float:
        return self.concurrency.mean

    @property
    def lowest_limit(self) -> int:
        return self.concurrency.lowest

    @property
    def paused_s(self) -> float:
        """Seconds left of an endpoint pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    @asynccontextmanager
    async def slot(self, estimated_tokens: float = 0) -> AsyncIterator[Slot]:
        """Wait for admission, hold a concurrency slot for the request, free it afterwards."""
        async with self._condition:
            await self._condition.wait_for(lambda: self.in_flight < self.concurrency.allowed)
            self.in_flight += 1
        try:
            tokens = estimated_tokens or self._tokens_per_request
            await self._wait_for_budget(tokens)
            at_limit = self.in_flight >= self.concurrency.allowed
            granted = Slot(self._started, self.concurrency.window, tokens, at_limit)
            self._started += 1
            yield granted
        finally:
            async with self._condition:
                self.in_flight -= 1
                self._condition.notify_all()

    async def _wait_for_budget(self, tokens: float) -> None:
        while (wait := self._budget_wait_s(tokens)) > 0:
            await self._sleep(wait)

    def _budget_wait_s(self, tokens: float) -> float:
        """0 and the budget taken when the request may start; else how long to wait first."""
        now = self._clock()
        if self._paused_until > now:
            return self._paused_until - now
        buckets = [(self._pace, 1.0), (self._told_requests, 1.0), (self._told_tokens, tokens)]
        buckets += [(self._mirrored_requests.bucket, 1.0), (self._mirrored_tokens.bucket, tokens)]
        ready = [(bucket, amount) for bucket, amount in buckets if bucket is not None and amount]
        for bucket, amount in ready:
            bucket.refill(now)
            short = min(amount, bucket.capacity) - bucket.level
            if short > 0:
                return short / bucket.refill_per_s
        for bucket, amount in ready:
            bucket.wait_s(amount, now)
        return 0.0

    def observe(self, slot: Slot, reply: Reply) -> None:
        """The one rate-limit hook: every reply, success or refusal, passes here once."""
        now = self._clock()
        started_since = self._started - slot.sequence - 1
        requests = read_quota(reply.headers, "requests")
        if requests is not None:
            self._mirrored_requests.update(requests, slot, started_since, now)
        if reply.tokens_used:
            self._tokens_per_request = (
                reply.tokens_used
                if not self._tokens_per_request
                else 0.8 * self._tokens_per_request + 0.2 * reply.tokens_used
            )
        tokens = read_quota(reply.headers, "tokens")
        if tokens is not None:
            self._mirrored_tokens.update(
                tokens, slot, started_since * self._tokens_per_request, now
            )
        if reply.pause_s:
            self._paused_until = max(self._paused_until, now + reply.pause_s)
        if reply.congested:
            self.concurrency.on_congestion(slot.window, at_limit=slot.at_limit)
        elif not reply.failed:  # a 5xx or a timeout says nothing about concurrency
            self.concurrency.on_success()

    def gauge_onto(self, progress: EndpointProgress) -> None:
        """Copy this limiter's gauges onto ``progress``, where readers (views, --json) look."""
        progress.in_flight = self.in_flight
        progress.limit = self.limit
        progress.maximum = self.maximum
        progress.mean_limit = self.mean_limit
        progress.lowest_limit = self.lowest_limit
        progress.paused_s = self.paused_s
