"""The one retry loop: full-jitter exponential backoff, never sooner than Retry-After."""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from runbench.errors import BadRequestError, RateLimitedError, RetryableProviderError
from runbench.runners.retry import RetryPolicy, call_with_retries

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
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


@pytest.mark.parametrize("status", ["408", "409", "500", "503"])
def test_retry_after_is_honoured_on_every_retryable_status(status: str) -> None:
    waits: list[float] = []
    failures = [RetryableProviderError(status, retry_after_s=4.0)]

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = RetryPolicy(base_delay_s=0.0)
    assert _run(call_with_retries(call, policy, sleep=sleep)) == "ok"
    assert waits == [4.0]


def test_backoff_without_retry_after_is_exponential_full_jitter_not_constant() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30.0)
    rng = random.Random(7)
    for retry in range(5):
        draws = [policy.delay_s(retry, None, rng) for _ in range(400)]
        cap = 0.5 * 2**retry
        assert all(0.0 <= draw <= cap for draw in draws)
        assert statistics.mean(draws) == pytest.approx(cap / 2, rel=0.15), "uniform over [0, cap]"
        assert len(set(draws)) > 390, "jittered, never one constant interval"


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
