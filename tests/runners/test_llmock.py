"""Retries judged by a server nobody here wrote: LLMock (PyPI ``llmock``) journals every attempt
through runbench's real CLI, client and retry loop, and its verdict must have no finding."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fakes.llmock_server import LLMock, start_llmock

KEY = "sk-llmock-test-0123456789"
SLACK_S = 0.02  # the server stamps its own clock at both ends of a gap


@pytest.fixture(scope="module")
def quiet_llmock() -> Iterator[LLMock]:
    server = start_llmock()
    yield server
    server.close()


@pytest.fixture(scope="module")
def chaos_llmock() -> Iterator[LLMock]:
    """The issue's chaos mix: 15 % 429, 10 % 500, 5 % 503 (Retry-After 1 s), 20 ms replies."""
    server = start_llmock(
        latency_ms=20, error_rate_429=0.15, error_rate_500=0.10, error_rate_503=0.05
    )
    yield server
    server.close()


def _run(tmp_path: Path, server: LLMock, instances: int, workers: int, *extra: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "runbench.toml"
    config.write_text(
        "\n".join(
            [
                "[providers.llmock]",
                'kind = "openai"',
                f'base_url = "{server.base_url}"',
                'api_key_env = "LLMOCK_KEY"',
                f"max_concurrency = {workers}",
                "",
                '[models."mock-gpt"]',
                'provider = "llmock"',
                'deployments = ["gpt-4o-mini"]',
            ]
        )
    )
    return run_cli(
        "smart-batch",
        "--model",
        "mock-gpt",
        "--prompt-types",
        "baseline",
        "--difficulty",
        "easy",
        "--task-types",
        "simple_task",
        "--num-instances",
        str(instances),
        "--max-workers",
        str(workers),
        "--config",
        str(config),
        "--store",
        str(tmp_path / "store"),
        "--json",
        *extra,
        env={"LLMOCK_KEY": KEY},
    )


def test_scripted_faults_back_off_growing_and_honour_retry_after(
    tmp_path: Path, quiet_llmock: LLMock
) -> None:
    quiet_llmock.reset()
    faults = [{"type": "fail", "status": 500, "times": 3}]
    faults += [{"type": "fail", "status": 503, "retry_after": 1.5, "times": 1}]
    faults += [{"type": "fail", "status": 429, "retry_after": 0.5, "times": 1}]
    quiet_llmock.control("POST", "scenario", {"behaviors": faults})
    result = _run(tmp_path, quiet_llmock, 1, 1, "--no-preflight")  # pre-flight would take one
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["finished"] == 1
    attempts = quiet_llmock.requests()
    assert [a["status"] for a in attempts[:6]] == [500, 500, 500, 503, 429, 200], "one call"
    gaps = [b["started_at"] - a["ended_at"] for a, b in itertools.pairwise(attempts[:6])]
    assert gaps[1] >= gaps[0] * 4 / 3 - SLACK_S and gaps[2] >= gaps[1] * 4 / 3 - SLACK_S, (
        f"waits without Retry-After grow from one retry to the next: {gaps[:3]}"
    )
    assert gaps[3] >= 1.5 - SLACK_S and gaps[4] >= 0.5 - SLACK_S, "Retry-After honoured"
    verdict = quiet_llmock.verdict()
    assert verdict["faults_injected"] == 5
    assert verdict["passed"] and not verdict["findings"], verdict["findings"]

    quiet_llmock.reset()  # a 400 is the request's own fault: never retried
    quiet_llmock.control("POST", "scenario", {"behaviors": [{"type": "fail", "status": 400}]})
    refused = _run(tmp_path, quiet_llmock, 2, 1, "--no-preflight")
    assert json.loads(refused.stdout)["errors"] == 1
    assert [a["status"] for a in quiet_llmock.requests()] == [400]
    verdict = quiet_llmock.verdict()
    assert verdict["passed"] and not verdict["findings"], verdict["findings"]


def test_the_chaos_mix_finishes_every_test_and_llmock_finds_nothing(
    tmp_path: Path, chaos_llmock: LLMock
) -> None:
    chaos_llmock.reset()
    result = _run(tmp_path, chaos_llmock, 8, 8)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["finished"], summary["errors"]) == (8, 0)
    verdict = chaos_llmock.verdict()
    assert verdict["faults_injected"] > 0, "the mix was injected"
    assert verdict["passed"] and not verdict["findings"], verdict["findings"]
