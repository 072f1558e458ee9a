"""What a refusal tells the limiter: congestion, a failure, or a quota that pauses the endpoint."""

from __future__ import annotations

import pytest

from runbench.errors import RateLimitedError, RetryableProviderError
from runbench.runners.limited_client import refusal_reply


@pytest.mark.parametrize(
    "message",
    [
        "HTTP 429: Requests per minute quota exhausted; try again later",
        "HTTP 429: Requests to the ChatCompletions_Create Operation have exceeded token rate limit"
        " of your current OpenAI S0 pricing tier. Please retry after 6 seconds.",
        "HTTP 429: have exceeded call rate limit of your current AIServices S0 pricing tier",
    ],
)
def test_a_429_body_saying_the_quota_is_used_up_pauses_for_its_retry_after(message: str) -> None:
    reply = refusal_reply(RateLimitedError(message, retry_after_s=6.0))
    assert (reply.congested, reply.pause_s) == (True, 6.0)


def test_a_429_with_remaining_zero_and_a_reset_pauses_until_the_sooner_of_both() -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s"}
    error = RateLimitedError("HTTP 429: slow down", retry_after_s=3.0, rate_limit_headers=headers)
    assert refusal_reply(error).pause_s == 3.0
    error = RateLimitedError("HTTP 429: slow down", rate_limit_headers=headers)
    assert refusal_reply(error).pause_s == 20.0


def test_a_plain_429_or_a_503_pauses_nothing() -> None:
    plain = refusal_reply(RateLimitedError("HTTP 429: Rate limit reached", retry_after_s=1.0))
    assert (plain.congested, plain.pause_s) == (True, None)
    overload = refusal_reply(RetryableProviderError("HTTP 503: overloaded", retry_after_s=1.0))
    assert (overload.congested, overload.failed, overload.pause_s) == (False, True, None)
