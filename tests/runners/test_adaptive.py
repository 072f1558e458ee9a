"""Adaptive concurrency on a loopback server: random faults keep it up, a real quota cuts it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runbench.config import EndpointLimits
from runbench.runners.engine import RunOptions
from runbench.runners.retry import RetryPolicy
from runbench.runners.summary import EndpointProgress
from tests.fakes.openai_server import FakeOptions, start_fake_openai
from tests.runners.harness import Endpoint, run_endpoints

# the fault mix: 15 % 429 and 5 % 503 with Retry-After 1 s, 10 % 500, 20 ms replies
FAULT_MIX = FakeOptions(
    latency_s=0.02,
    fault_rate_429=0.15,
    fault_rate_500=0.10,
    fault_rate_503=0.05,
    retry_after_s=1.0,
    seed=9,
)


def test_random_faults_keep_the_limit_above_half_the_maximum(tmp_path: Path) -> None:
    fake = start_fake_openai(FAULT_MIX)
    try:
        endpoint = Endpoint(fake.base_url, "flaky", 20, EndpointLimits(max_concurrency=8))
        options = RunOptions(retry=RetryPolicy(max_retries=10))
        summary = asyncio.run(run_endpoints([endpoint], options, tmp_path))
    finally:
        fake.close()
    progress = summary.endpoints["fake/flaky"]
    assert (summary.finished, summary.errors) == (20, 0), "every test done, none an error"
    assert summary.failure + summary.partial + summary.full == 20
    assert progress.rate_limited > 0, "the mix did send 429s"
    assert progress.mean_limit >= 4.0, f"mean limit {progress.mean_limit:.1f} of 8"


def _crowded_run(tmp_path: Path, *, adaptive: bool) -> tuple[EndpointProgress, float]:
    """24 tests against a server that refuses beyond 2 requests in flight; (progress, refused)."""
    fake = start_fake_openai(FakeOptions(latency_s=0.05, max_in_flight=2))
    try:
        endpoint = Endpoint(fake.base_url, "crowded", 24, EndpointLimits(max_concurrency=8))
        options = RunOptions(retry=RetryPolicy(max_retries=30), adaptive=adaptive)
        summary = asyncio.run(run_endpoints([endpoint], options, tmp_path))
    finally:
        fake.close()
    assert summary.finished == 24
    answered = fake.answered("crowded")
    return summary.endpoints["fake/crowded"], answered.get(429, 0) / sum(answered.values())


def test_a_load_driven_quota_still_backs_off(tmp_path: Path) -> None:
    adaptive, adaptive_refused = _crowded_run(tmp_path / "adaptive", adaptive=True)
    fixed, fixed_refused = _crowded_run(tmp_path / "fixed", adaptive=False)
    assert adaptive.lowest_limit <= 2, "it came down to what the server takes"
    assert fixed.lowest_limit == 8
    assert adaptive_refused < fixed_refused, (
        f"backing off is refused less: {adaptive_refused:.0%} against {fixed_refused:.0%} fixed"
    )
