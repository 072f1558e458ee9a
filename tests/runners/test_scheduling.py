"""Each endpoint on its own: its own workers, its own limit, never held back by another."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.config import EndpointLimits
from runbench.runners.engine import RunOptions, RunSummary
from tests.conftest import InProcessCli
from tests.fakes.openai_server import FakeOpenAI, FakeOptions, start_fake_openai
from tests.runners.harness import REQUESTS_PER_TEST, Endpoint, run_endpoints


@pytest.fixture
def slow_and_fast() -> Iterator[FakeOpenAI]:
    fake = start_fake_openai(
        FakeOptions(latency_by_model={"slow": 0.3, "fast": 0.05}, latency_s=0.01)
    )
    yield fake
    fake.close()


def test_a_slow_endpoint_never_holds_back_a_fast_one(
    slow_and_fast: FakeOpenAI, tmp_path: Path
) -> None:
    url = slow_and_fast.base_url
    endpoints = [
        Endpoint(url, "slow", 8, EndpointLimits(max_concurrency=2)),
        Endpoint(url, "fast", 24, EndpointLimits(max_concurrency=8)),
    ]
    summary = asyncio.run(run_endpoints(endpoints, RunOptions(max_workers=16), tmp_path))
    assert (summary.finished, summary.errors, summary.not_run) == (32, 0, 0)
    arrivals = {
        model: sorted(r["at"] for r in slow_and_fast.requests if r["model"] == model)
        for model in ("slow", "fast")
    }
    assert len(arrivals["fast"]) == 24 * REQUESTS_PER_TEST
    assert arrivals["fast"][-1] < arrivals["slow"][len(arrivals["slow"]) // 2], (
        "the fast endpoint finished while the slow one had half its requests still to make"
    )
    # on two busy cores the server's threads may not overlap all eight; most of them is the claim
    assert 6 <= slow_and_fast.peak_in_flight["fast"] <= 8, "the fast endpoint used its limit"
    assert slow_and_fast.peak_in_flight["slow"] == 2


def test_max_workers_caps_the_tests_in_flight_per_endpoint(tmp_path: Path) -> None:
    fake = start_fake_openai(FakeOptions(latency_s=0.05))
    try:
        endpoints = [
            Endpoint(fake.base_url, "left", 6, EndpointLimits(max_concurrency=8)),
            Endpoint(fake.base_url, "right", 6, EndpointLimits(max_concurrency=8)),
        ]
        asyncio.run(run_endpoints(endpoints, RunOptions(max_workers=2), tmp_path))
    finally:
        fake.close()
    assert fake.peak_in_flight == {"left": 2, "right": 2}, "two per endpoint, both at once"


def test_tasks_stay_bounded_whatever_the_size_of_the_plan(tmp_path: Path) -> None:
    fake = start_fake_openai()
    tasks: list[int] = []

    def sample(_: RunSummary) -> None:
        tasks.append(len(asyncio.all_tasks()))

    try:
        endpoint = Endpoint(fake.base_url, "many", 150, EndpointLimits(max_concurrency=4))
        summary = asyncio.run(
            run_endpoints([endpoint], RunOptions(max_workers=4), tmp_path, on_progress=sample)
        )
    finally:
        fake.close()
    assert summary.finished == 150
    assert max(tasks) <= 12, "lane, producer, 4 workers, writer, reporter: never one per test"


def test_the_counts_add_up_and_the_last_progress_call_is_final(tmp_path: Path) -> None:
    fake = start_fake_openai(FakeOptions(latency_s=0.2))
    calls: list[tuple[bool, int, int, int]] = []
    stop = asyncio.Event()

    def watch(summary: RunSummary) -> None:
        calls.append((summary.final, summary.finished, summary.errors, summary.not_run))
        if summary.finished >= 2:
            stop.set()

    name = f"http-400-{uuid.uuid4().hex[:6]}"  # every test an infrastructure error
    try:
        endpoints = [
            Endpoint(fake.base_url, "ok", 40, EndpointLimits(max_concurrency=2)),
            Endpoint(fake.base_url, name, 3),
        ]
        options = RunOptions(max_workers=2)
        summary = asyncio.run(
            run_endpoints(endpoints, options, tmp_path, stop=stop, on_progress=watch)
        )
    finally:
        fake.close()
    assert summary.interrupted and summary.exit_code == 130
    assert summary.errors == 3 and 0 < summary.finished < 40
    assert summary.finished + summary.errors + summary.not_run == summary.planned == 43
    for progress in summary.endpoints.values():
        assert progress.done + progress.errors + progress.not_run == progress.total
    assert calls[-1] == (True, summary.finished, summary.errors, summary.not_run)
    assert [final for final, *_ in calls].count(True) == 1
    document = summary.to_dict()
    assert (document["finished"], document["errors"], document["not_run"]) == (
        summary.finished,
        3,
        summary.not_run,
    )
    assert document["endpoints"]["fake/ok"]["total"] == 40


def test_the_summary_shows_the_limit_the_workers_allow_not_the_configured_one(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    """sim endpoints allow 64 in flight; under --max-workers 2 at most 2 can be."""
    result = cli_in_process(
        "smart-batch", "--model", "sim-strong", "--num-instances", "2", "--max-workers", "2",
        "--store", str(tmp_path), "--json", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    endpoint = json.loads(result.stdout)["endpoints"]["sim/sim-strong"]
    assert (endpoint["limit"], endpoint["maximum"]) == (2, 2)
