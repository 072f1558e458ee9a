"""The endpoint limiter: AIMD with a congestion window, buckets told and mirrored, quota pauses.

A fake clock whose ``sleep`` advances it makes every wait observable without real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import pytest

from runbench.config import EndpointLimits
from runbench.runners.limiter import (
    EndpointLimiter,
    Reply,
    Slot,
    TokenBucket,
    exhausted_pause_s,
    parse_duration_s,
    told_bucket,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _limiter(clock: FakeClock, **limits: int) -> EndpointLimiter:
    limits.setdefault("max_concurrency", 8)
    return EndpointLimiter("fake/e", EndpointLimits(**limits), clock=clock, sleep=clock.sleep)


T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


CONGESTED = Reply(congested=True)
OK = Reply()


async def _fill(limiter: EndpointLimiter, stack: AsyncExitStack) -> list[Slot]:
    """Take every slot the limit allows; the last one started with the limit in full use."""
    return [await stack.enter_async_context(limiter.slot()) for _ in range(limiter.limit)]


def test_a_429_from_before_the_last_cut_does_not_cut_again() -> None:
    async def scenario() -> list[int]:
        limiter = _limiter(FakeClock(), max_concurrency=4)
        seen = []
        async with AsyncExitStack() as stack:
            *earlier, last = await _fill(limiter, stack)
            limiter.observe(last, CONGESTED)
            seen.append(limiter.limit)
            limiter.observe(earlier[-1], CONGESTED)  # same congestion event: started before the cut
            seen.append(limiter.limit)
        async with AsyncExitStack() as stack:
            *_, last = await _fill(limiter, stack)
            limiter.observe(last, CONGESTED)  # started after the cut: a new event
            seen.append(limiter.limit)
        return seen

    assert _run(scenario()) == [2, 2, 1]


def test_a_429_while_the_limit_was_not_in_use_cuts_nothing() -> None:
    async def scenario() -> int:
        limiter = _limiter(FakeClock())
        async with limiter.slot() as alone:  # one of eight in flight: a random fault
            limiter.observe(alone, CONGESTED)
        return limiter.limit

    assert _run(scenario()) == 8


def test_successes_grow_the_limit_back_without_an_unbroken_streak() -> None:
    async def scenario() -> tuple[int, list[int]]:
        limiter = _limiter(FakeClock())
        seen = []
        async with AsyncExitStack() as stack:
            *earlier, last = await _fill(limiter, stack)
            limiter.observe(last, CONGESTED)
        cut = limiter.limit
        for late in (earlier * 4)[:22]:  # one per window: 4 + 5 + 6 + 7 successes reach 8
            async with limiter.slot() as slot:
                limiter.observe(slot, OK)
            limiter.observe(late, CONGESTED)  # a late 429 between successes changes nothing
            seen.append(limiter.limit)
        return cut, seen

    cut, seen = _run(scenario())
    assert cut == 4
    assert [seen.index(level) for level in (5, 6, 7, 8)] == [3, 8, 14, 21]


def test_a_server_error_neither_grows_nor_cuts_the_limit() -> None:
    async def scenario() -> list[int]:
        limiter = _limiter(FakeClock())
        async with AsyncExitStack() as stack:
            *_, last = await _fill(limiter, stack)
            limiter.observe(last, CONGESTED)
        seen = [limiter.limit]
        for _ in range(20):
            async with limiter.slot() as slot:
                limiter.observe(slot, Reply(failed=True))
        seen.append(limiter.limit)
        return seen

    assert _run(scenario()) == [4, 4]


def test_the_limit_stays_between_one_and_the_maximum() -> None:
    async def scenario() -> tuple[int, int, int]:
        limiter = _limiter(FakeClock())
        for _ in range(10):
            async with AsyncExitStack() as stack:
                *_, last = await _fill(limiter, stack)
                limiter.observe(last, CONGESTED)
        lowest = limiter.limit
        for _ in range(200):
            async with limiter.slot() as slot:
                limiter.observe(slot, OK)
        fixed = EndpointLimiter("fake/f", EndpointLimits(max_concurrency=8), adaptive=False)
        async with AsyncExitStack() as stack:
            *_, last = await _fill(fixed, stack)
            fixed.observe(last, CONGESTED)
        return lowest, limiter.limit, fixed.limit

    assert _run(scenario()) == (1, 8, 8)


def test_concurrency_never_exceeds_the_limit() -> None:
    async def scenario() -> int:
        limiter = EndpointLimiter("e", EndpointLimits(max_concurrency=3))
        peak = 0

        async def request() -> None:
            nonlocal peak
            async with limiter.slot():
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.001)

        async with asyncio.TaskGroup() as group:
            for _ in range(30):
                group.create_task(request())
        return peak

    assert _run(scenario()) == 3


def test_a_quota_exhausted_reply_pauses_the_whole_endpoint_with_two_tests_in_flight() -> None:
    async def scenario() -> tuple[list[float], list[float]]:
        clock = FakeClock()
        limiter = _limiter(clock)
        async with limiter.slot() as first, limiter.slot() as second:
            limiter.observe(first, Reply(congested=True, pause_s=2.5))
            limiter.observe(second, OK)
        async with limiter.slot():  # the other test's next request waits for the pause
            pass
        paused = list(clock.waits)
        clock.waits.clear()
        async with limiter.slot() as first, limiter.slot() as second:
            limiter.observe(first, CONGESTED)  # a plain 429: only its own request waits
        async with limiter.slot():
            pass
        return paused, clock.waits

    paused, plain = _run(scenario())
    assert sum(paused) == pytest.approx(2.5)
    assert plain == []


def test_token_bucket_starts_full_and_refills() -> None:
    bucket = TokenBucket(capacity=2, refill_per_s=1.0, level=2, updated=0.0)
    assert bucket.wait_s(1, 0.0) == 0.0 and bucket.wait_s(1, 0.0) == 0.0
    assert bucket.wait_s(1, 0.0) == pytest.approx(1.0)
    assert bucket.wait_s(1, 1.0) == 0.0


def test_a_told_rpm_is_a_bucket_that_holds_a_full_minute() -> None:
    bucket = told_bucket(240, now=0.0)
    assert all(bucket.wait_s(1, 0.0) == 0.0 for _ in range(240)), "the minute's burst at once"
    assert bucket.wait_s(1, 0.0) == pytest.approx(0.25), "then 4 per second"


def test_a_told_rpm_is_split_by_share() -> None:
    async def scenario() -> tuple[int, float]:
        clock = FakeClock()
        limiter = EndpointLimiter(
            "fake/e",
            EndpointLimits(max_concurrency=8, requests_per_minute=240),
            share=0.25,
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(61):
            async with limiter.slot():
                pass
        return len(clock.waits), sum(clock.waits)

    waits, seconds = _run(scenario())
    assert waits == 1 and seconds == pytest.approx(1.0), "60 at once, then one per second"


def test_the_providers_headers_are_mirrored_and_pace_the_next_requests() -> None:
    headers = {
        "x-ratelimit-limit-requests": "240",
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "59.5s",
    }

    async def scenario() -> list[float]:
        clock = FakeClock()
        limiter = _limiter(clock)
        async with limiter.slot() as slot:
            pass
        limiter.observe(slot, Reply(headers=headers))
        for _ in range(3):
            async with limiter.slot():
                pass
        return clock.waits

    waits = _run(scenario())
    assert len(waits) == 1, "two left: the third request waits for the refill"
    assert waits[0] == pytest.approx(0.25, rel=0.01)


def test_an_older_reading_never_overrides_a_fresher_one() -> None:
    def reading(remaining: int) -> Reply:
        return Reply(
            headers={
                "x-ratelimit-limit-requests": "240",
                "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": "30s",
            }
        )

    async def scenario() -> list[float]:
        clock = FakeClock()
        limiter = _limiter(clock)
        async with limiter.slot() as older, limiter.slot() as newer:
            pass
        limiter.observe(newer, reading(0))
        limiter.observe(older, reading(200))  # stale: arrived at the server first
        async with limiter.slot():
            pass
        return clock.waits

    assert len(_run(scenario())) == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("6m0s", 360.0),
        ("1h2m", 3720.0),
        ("7", 7.0),
        ("soon", None),
        ("", None),
    ],
)
def test_reset_headers_parse_as_durations(text: str, seconds: float | None) -> None:
    assert parse_duration_s(text) == seconds


def test_only_remaining_zero_with_a_reset_says_the_quota_is_exhausted() -> None:
    exhausted = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "12s"}
    assert exhausted_pause_s(exhausted) == 12.0
    assert exhausted_pause_s({"x-ratelimit-remaining-tokens": "0"}) is None
    assert exhausted_pause_s({**exhausted, "x-ratelimit-remaining-tokens": "5"}) is None


def test_token_headers_pace_by_the_tokens_requests_really_use() -> None:
    headers = {
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "100",
        "x-ratelimit-reset-tokens": "59s",
    }

    async def scenario() -> list[float]:
        clock = FakeClock()
        limiter = _limiter(clock)
        async with limiter.slot() as slot:
            pass
        limiter.observe(slot, Reply(headers=headers, tokens_used=50))
        for _ in range(3):  # 100 tokens left at 50 a request: two now, the third waits
            async with limiter.slot():
                pass
        return clock.waits

    waits = _run(scenario())
    assert len(waits) == 1
    assert waits[0] == pytest.approx(0.5, rel=0.02), "50 tokens at (6000 - 100) / 59 s per second"


def test_a_told_tpm_is_a_bucket_of_a_full_minute_too() -> None:
    async def scenario() -> list[float]:
        clock = FakeClock()
        limiter = EndpointLimiter(
            "fake/e",
            EndpointLimits(max_concurrency=8, tokens_per_minute=600),
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(7):
            async with limiter.slot(estimated_tokens=100):
                pass
        return clock.waits

    assert _run(scenario()) == [pytest.approx(10.0)], "600 at once, then 10 a second"
