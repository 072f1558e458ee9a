"""The one retry loop: growing jittered backoff, capped low, never sooner than Retry-After."""

from __future__ import annotations

import asyncio
import itertools
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


def _waits(
    failures: list[RetryableProviderError], policy: RetryPolicy, seed: int = 1
) -> list[float]:
    """The waits ``call_with_retries`` chose for a call failing with ``failures``, then "ok"."""
    waits: list[float] = []
    queue = list(failures)

    async def call() -> str:
        if queue:
            raise queue.pop(0)
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert _run(call_with_retries(call, policy, sleep=sleep, rng=random.Random(seed))) == "ok"
    return waits


def test_retries_wait_longer_each_time_and_at_least_retry_after() -> None:
    failures = [
        RetryableProviderError("503"),
        RetryableProviderError("503"),
        RateLimitedError("429", retry_after_s=9.0),
        RetryableProviderError("500"),
    ]

    waits = _waits(failures, RetryPolicy(max_retries=5, base_delay_s=1.0, max_delay_s=30.0))
    assert len(waits) == 4
    assert 1.0 <= waits[0] <= 1.5 and 2.0 <= waits[1] <= 3.0, "base·2^n plus up to 50 %"
    assert 9.0 <= waits[2] <= 9.0 * 1.05, "the server's Retry-After, spread by 5 % at most"
    assert 4.0 <= waits[3] <= 6.0, "the third backoff: the Retry-After wait does not count"


@pytest.mark.parametrize("status", ["408", "409", "500", "503"])
def test_retry_after_is_honoured_on_every_retryable_status(status: str) -> None:
    failures = [RetryableProviderError(status, retry_after_s=4.0)]
    (wait,) = _waits(failures, RetryPolicy(base_delay_s=0.0))
    assert 4.0 <= wait <= 4.2, "what the server asked, never less, at most 5 % more"


def test_backoff_without_retry_after_grows_by_a_third_at_least_and_is_jittered() -> None:
    """LLMock calls retries whose gaps do not grow by 10 % ``no_backoff``: ours grow by ≥ 4/3."""
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=1000.0)
    rng = random.Random(7)
    for retry in range(5):
        draws = [policy.delay_s(retry, None, rng) for _ in range(400)]
        low = 0.5 * 2**retry
        assert all(low <= draw <= 1.5 * low for draw in draws)
        assert statistics.mean(draws) == pytest.approx(1.25 * low, rel=0.05), "uniform stretch"
        assert len(set(draws)) > 390, "jittered, never one constant interval"
    for seed in range(200):  # one request's retries: every wait ≥ 4/3 of the one before
        rng = random.Random(seed)
        waits = [policy.delay_s(retry, None, rng) for retry in range(6)]
        assert all(later >= earlier * 4 / 3 for earlier, later in itertools.pairwise(waits))


def test_the_default_cap_bounds_what_one_unlucky_request_can_cost_a_run() -> None:
    policy = RetryPolicy()
    rng = random.Random(3)
    waits: list[float] = []
    for retry in range(policy.max_retries):
        waits.append(policy.delay_s(retry, None, rng, waits[-1] if waits else 0.0))
    assert max(waits) <= policy.max_delay_s == 4.0
    assert waits == sorted(waits), "never shorter than the previous wait, also at the cap"
    assert sum(waits[:5]) < 10.0, "five failures in a row cost seconds, not a minute"
    assert policy.max_retries + 1 <= 10, "LLMock calls more than 10 attempts a retry storm"


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


def test_a_retry_after_of_zero_still_waits_the_base_so_no_retry_storm() -> None:
    policy = RetryPolicy()
    assert policy.delay_s(0, 0.0, random.Random(1)) >= policy.base_delay_s


def test_a_plain_5xx_after_a_retry_after_is_retried_soon_not_from_the_top_of_the_ladder() -> None:
    failures = [RateLimitedError("429", retry_after_s=1.0)] * 3 + [RetryableProviderError("500")]
    waits = _waits(failures, RetryPolicy(), seed=2)
    assert all(1.0 <= wait <= 1.05 for wait in waits[:3])
    assert 0.25 <= waits[3] <= 0.375, "the first wait without Retry-After: the base"
