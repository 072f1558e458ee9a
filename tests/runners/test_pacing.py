"""Pacing against a provider's bucket (240 requests/minute, starting full): told or from headers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbench.config import EndpointLimits
from runbench.runners.engine import RunOptions, RunSummary
from runbench.runners.retry import RetryPolicy
from tests.conftest import REPO
from tests.fakes.openai_server import FakeOpenAI, FakeOptions, start_fake_openai
from tests.runners.harness import REQUESTS_PER_TEST, Endpoint, run_endpoints

RPM = 240
TESTS = 90  # 270 requests: the minute's 240 at once, then 30 more at 4 per second
OPTIONS = RunOptions(max_workers=16, retry=RetryPolicy(max_retries=20))


def _run(
    tmp_path: Path, options: FakeOptions, limits: EndpointLimits, run: RunOptions = OPTIONS
) -> tuple[FakeOpenAI, RunSummary]:
    fake = start_fake_openai(options)
    try:
        endpoint = Endpoint(fake.base_url, "metered", TESTS, limits)
        summary = asyncio.run(run_endpoints([endpoint], run, tmp_path))
    finally:
        fake.close()
    assert summary.finished == TESTS
    return fake, summary


def _refused(fake: FakeOpenAI) -> float:
    answered = fake.answered()
    return answered.get(429, 0) / sum(answered.values())


def test_the_providers_headers_pace_requests_so_almost_none_is_refused(tmp_path: Path) -> None:
    fake, _ = _run(
        tmp_path, FakeOptions(requests_per_minute=RPM), EndpointLimits(max_concurrency=16)
    )
    assert _refused(fake) <= 0.02, f"{_refused(fake):.1%} refused"


def test_a_told_rpm_spends_the_minutes_burst_and_is_never_refused(tmp_path: Path) -> None:
    fake, _ = _run(
        tmp_path,
        FakeOptions(requests_per_minute=RPM, rate_headers=False),
        EndpointLimits(max_concurrency=16, requests_per_minute=RPM),
    )
    assert _refused(fake) <= 0.01, f"{_refused(fake):.1%} refused"
    arrivals = sorted(r["at"] for r in fake.requests)
    burst = arrivals[RPM - 1] - arrivals[0]
    assert burst < RPM / 4 / 2, "the minute's allowance was spent as a burst, not at 4 per second"


def _shards(tmp_path: Path, share: str) -> FakeOpenAI:
    """Two shard processes told rpm = 240 on one key, each with ``share`` of it."""
    fake = start_fake_openai(FakeOptions(requests_per_minute=RPM, rate_headers=False))
    try:
        shards = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.runners.shard_worker",
                    fake.base_url,
                    f"shard-{index}",
                    str(TESTS // 2),
                    share,
                    str(tmp_path / f"{share}-{index}"),
                    str(RPM),
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            for index in range(2)
        ]
        results = [json.loads(shard.communicate(timeout=120)[0]) for shard in shards]
    finally:
        fake.close()
    if share != "1.0":  # the guarantee: inside one quota every test finishes
        assert [result["finished"] for result in results] == [TESTS // 2, TESTS // 2]
    else:  # the control arm overspends on purpose: a test may end as a (resumable) error
        assert [r["finished"] + r["errors"] for r in results] == [TESTS // 2, TESTS // 2]
    return fake


def test_two_shard_processes_with_half_shares_stay_inside_one_quota(tmp_path: Path) -> None:
    # no rate headers: the processes cannot see each other, only their shares keep them inside
    halves = _shards(tmp_path, "0.5")
    assert _refused(halves) <= 0.01, f"{_refused(halves):.1%} refused"
    wholes = _shards(tmp_path, "1.0")
    assert _refused(wholes) > 0.1, "without shares both spend the whole minute: the test bites"


def test_the_real_client_path_reads_the_headers_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through session.execute and the OpenAI client, as the CLI runs it: headers pace it."""
    from runbench.matrix import build_matrix
    from runbench.runners.context import context_of_request
    from runbench.runners.session import RunRequest, execute, prepare
    from runbench.storage import open_store

    monkeypatch.setenv("FAKE_KEY", "sk-fake")
    # the issue's own scenario: 240 requests/min, bucket full at the start, 300 calls
    fake = start_fake_openai(FakeOptions(requests_per_minute=RPM))
    config = tmp_path / "runbench.toml"
    config.write_text(
        f'[providers.fake]\nkind = "openai"\nbase_url = "{fake.base_url}"\n'
        'api_key_env = "FAKE_KEY"\nmax_concurrency = 16\n\n[models.metered]\nprovider = "fake"\n'
    )
    matrix = build_matrix(
        prompt_types="baseline",
        difficulties="easy",
        task_types="simple_task",
        rates="0.8",
        num_instances=100,  # 300 requests: the minute's 240, then 60 at 4 per second
    )
    store = open_store(tmp_path / "store", "json")
    try:
        context = context_of_request(config, store)
        prepared = prepare(RunRequest(("metered",), matrix, config_path=config), context)
        options = dataclasses.replace(OPTIONS, max_turns=REQUESTS_PER_TEST)  # 3 requests a test
        summary = asyncio.run(execute(prepared, context, options, check_credentials=False))
    finally:
        store.close()
        fake.close()
    assert summary.finished == 100
    assert _refused(fake) <= 0.02, f"{_refused(fake):.1%} refused"
