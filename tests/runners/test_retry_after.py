"""Retry-After on every retryable status, per request, measured as arrival gaps at the server."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from runbench.config import EndpointLimits
from runbench.runners.engine import RunOptions
from runbench.runners.retry import RetryPolicy
from tests.conftest import run_cli
from tests.fakes.openai_server import FakeOpenAI, FakeOptions, start_fake_openai
from tests.runners.harness import Endpoint, run_endpoints

CLOCK_SLACK_S = 0.005  # the server stamps wall time; the client waits on the monotonic clock
IN_FLIGHT_S = 0.05  # requests sent before the refusal reached the client


@pytest.mark.parametrize("status", [429, 500, 503, 408])
@pytest.mark.parametrize("form", ["seconds", "date", "ms"])
def test_a_retry_never_comes_sooner_than_the_server_asked(
    status: int, form: str, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    name = f"retry-{status}-{form}-{uuid.uuid4().hex[:8]}"
    options = RunOptions(retry=RetryPolicy(base_delay_s=0.0))  # only Retry-After makes it wait
    endpoint = Endpoint(fake_openai.base_url, name, 1)
    summary = asyncio.run(run_endpoints([endpoint], options, tmp_path))
    assert summary.finished == 1
    first, second = [r for r in fake_openai.requests if r["model"] == name][:2]
    assert first["status"] == status
    assert second["wall"] >= first["retry_at"] - CLOCK_SLACK_S, "retried sooner than asked"


def test_a_plain_429_waits_in_its_own_request_and_never_pauses_the_endpoint(
    tmp_path: Path,
) -> None:
    fake = start_fake_openai(FakeOptions(latency_s=0.01))
    try:
        refused = f"retry-429-seconds-{uuid.uuid4().hex[:8]}"
        # two endpoints sharing nothing and one with two workers: the other worker goes on
        endpoint = Endpoint(fake.base_url, refused, 4, EndpointLimits(max_concurrency=4))
        summary = asyncio.run(run_endpoints([endpoint], RunOptions(max_workers=2), tmp_path))
    finally:
        fake.close()
    assert summary.finished == 4
    arrivals = [r for r in fake.requests if r["model"] == refused]
    retry_at = arrivals[0]["retry_at"]
    during_the_wait = [r for r in arrivals[1:] if r["wall"] < retry_at - 0.2]
    assert len(during_the_wait) >= 2, "the other test kept sending while one request waited"


def test_a_429_saying_the_quota_is_exhausted_pauses_the_whole_endpoint(tmp_path: Path) -> None:
    fake = start_fake_openai(
        FakeOptions(requests_per_minute=60, rate_headers=False, quota_body=True)
    )
    try:
        endpoint = Endpoint(fake.base_url, "metered", 21, EndpointLimits(max_concurrency=8))
        options = RunOptions(max_workers=8, retry=RetryPolicy(max_retries=10))
        summary = asyncio.run(run_endpoints([endpoint], options, tmp_path))
    finally:
        fake.close()
    assert summary.finished == 21
    refusals = [r for r in fake.requests if r["status"] == 429]
    assert refusals, "the burst of 60 ran out"
    for refusal in refusals:  # requests already on the wire may land just after it, no more
        quiet_from, quiet_until = refusal["wall"] + IN_FLIGHT_S, refusal["retry_at"] - CLOCK_SLACK_S
        sent = [r for r in fake.requests if quiet_from < r["wall"] < quiet_until]
        assert not sent, "a request reached the endpoint while it was paused"


def test_every_form_on_every_retryable_status_through_the_real_client_and_cli(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """The production path: the CLI's aiohttp client, its limiter and the retry loop."""
    tag = uuid.uuid4().hex[:8]
    names = [
        f"retry-{status}-{form}-{tag}"
        for status in (408, 409, 429, 500, 502, 503)
        for form in ("seconds", "date", "ms")
    ]
    lines = ["[providers.fake]", 'kind = "openai"', f'base_url = "{fake_openai.base_url}"']
    lines += ['api_key_env = "FAKE_KEY"', ""]
    for name in names:
        lines += [f'[models."{name}"]', 'provider = "fake"', f'deployments = ["{name}"]', ""]
    (tmp_path / "runbench.toml").write_text("\n".join(lines))
    result = run_cli(
        "provider-parallel",
        "--models",
        ",".join(names),
        "--task-types",
        "simple_task",
        "--num-instances",
        "1",
        "--no-preflight",
        "--config",
        str(tmp_path / "runbench.toml"),
        "--store",
        str(tmp_path / "store"),
        "--json",
        env={"FAKE_KEY": "sk-test-key-0123456789"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["finished"] == len(names)
    for name in names:
        first, second = [r for r in fake_openai.requests if r["model"] == name][:2]
        assert first["status"] == int(name.split("-")[1])
        assert second["wall"] >= first["retry_at"] - CLOCK_SLACK_S, f"{name}: sooner than asked"
