from __future__ import annotations

import asyncio
import random

import pytest
from runbench.runners.limiter import SUCCESS_STREAK_TO_GROW, EndpointLimiter, TokenBucket
from runbench.runners.retry import RetryPolicy, call_with_retries

from runbench.config import EndpointLimits
from runbench.errors import BadRequestError, RateLimitedError, RetryableProviderError


def _run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_retries_wait_with_growing_caps_and_at_least_retry_after() -> None:
    waits: list[float] = []
    failures = [
        RetryableProviderError("503"),
        RetryableProviderError("503"),
        RateLimitedError("429", retry_after_s=9.0),
    ]

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(max_retries=5, base_delay_s=1.0, max_delay_s=30.0)
    assert _run(call_with_retries(call, policy, sleep=sleep, rng=random.Random(1))) == "ok"
    assert len(waits) == 3
    assert 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0, "full jitter under base·2^n"
    assert waits[2] >= 9.0, "never sooner than the server's Retry-After"


def test_retries_stop_at_the_limit_and_bad_requests_are_not_retried() -> None:
    calls = []

    async def failing() -> None:
        calls.append(1)
        raise RetryableProviderError("500")

    async def bad() -> None:
        calls.append(2)
        raise BadRequestError("400")

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(RetryableProviderError):
        _run(call_with_retries(failing, RetryPolicy(max_retries=3), sleep=no_sleep))
    assert calls.count(1) == 4
    with pytest.raises(BadRequestError):
        _run(call_with_retries(bad, RetryPolicy(max_retries=3), sleep=no_sleep))
    assert calls.count(2) == 1


def test_token_bucket_starts_full_and_refills() -> None:
    bucket = TokenBucket(capacity=2, refill_per_s=1.0, level=2, updated=0.0)
    assert bucket.wait_s(1, 0.0) == 0.0 and bucket.wait_s(1, 0.0) == 0.0
    assert bucket.wait_s(1, 0.0) == pytest.approx(1.0)
    assert bucket.wait_s(1, 1.0) == 0.0


def test_adaptive_limit_halves_on_429_and_grows_back_to_the_maximum() -> None:
    async def scenario() -> list[int]:
        limiter = EndpointLimiter("e", EndpointLimits(max_concurrency=8))
        seen = []
        await limiter.acquire()
        await limiter.release(rate_limited=True)
        seen.append(limiter.limit)
        for _ in range(SUCCESS_STREAK_TO_GROW * 10):
            await limiter.acquire()
            await limiter.release()
        seen.append(limiter.limit)
        fixed = EndpointLimiter("f", EndpointLimits(max_concurrency=8), adaptive=False)
        await fixed.acquire()
        await fixed.release(rate_limited=True)
        seen.append(fixed.limit)
        return seen

    assert _run(scenario()) == [4, 8, 8]


def test_concurrency_never_exceeds_the_limit() -> None:
    async def scenario() -> int:
        limiter = EndpointLimiter("e", EndpointLimits(max_concurrency=3))
        peak = 0

        async def request() -> None:
            nonlocal peak
            await limiter.acquire()
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.001)
            await limiter.release()

        async with asyncio.TaskGroup() as group:
            for _ in range(30):
                group.create_task(request())
        return peak

    assert _run(scenario()) == 3
