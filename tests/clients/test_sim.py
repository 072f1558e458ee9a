from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from runbench.chat import ChatMessage, ChatRequest, TaskOracle
from runbench.clients.sim import PROFILES, SimClient
from runbench.errors import RateLimitedError, RetryableProviderError, UsageError
from runbench.plan import Cell
from runbench.records import TASK_TYPES
from runbench.workload.executor import run_test
from runbench.workload.tasks import builtin_library


def _outcome(
    client: SimClient,
    test_id: str,
    task_type: str = "data_pipeline",
    prompt: str = "optimal",
    instance: int = 0,
    protocol: str = "tags",
):  # type: ignore[no-untyped-def]
    task = builtin_library().task_for(task_type, "medium", instance)
    return asyncio.run(
        run_test(
            client,
            task,
            prompt_type=prompt,
            test_id=test_id,
            tool_success_rate=0.8,
            protocol=protocol,
        )
    )  # type: ignore[arg-type]


def test_same_test_id_gives_the_same_transcript() -> None:
    for protocol in ("tags", "native"):
        a = _outcome(
            SimClient("sim-average", "average", protocol=protocol), "ab" * 16, protocol=protocol
        )
        b = _outcome(
            SimClient("sim-average", "average", protocol=protocol), "ab" * 16, protocol=protocol
        )
        assert a.execution.transcript == b.execution.transcript
        assert a.scores == b.scores


def test_profiles_are_ordered_by_full_success_over_many_tests() -> None:
    rates = {}
    for profile in ("oracle", "strong", "average", "weak"):
        client = SimClient(f"sim-{profile}", profile)
        statuses = Counter()
        for prompt in ("baseline", "optimal", "flawed_missing_step", "cot"):
            for task_type in TASK_TYPES:
                for instance in range(12):
                    test_id = Cell(
                        "workflow", "1", client.model, prompt, "medium", task_type, 0.8
                    ).test_id(instance)
                    statuses[
                        _outcome(client, test_id, task_type, prompt, instance).scores.status
                    ] += 1
        assert sum(statuses.values()) == 240
        rates[profile] = statuses["full_success"] / 240
    assert rates["oracle"] > rates["strong"] > rates["average"] > rates["weak"], rates


def test_flaky_fails_at_a_steady_rate_and_a_retry_can_succeed() -> None:
    client = SimClient("sim-flaky", "flaky")
    oracle = TaskOracle(("file_reader",), (), "baseline")
    faults = Counter()
    for index in range(400):
        request = ChatRequest((ChatMessage("user", "go"),), f"{index:032x}", oracle=oracle)
        for _attempt in range(10):
            try:
                asyncio.run(client.complete(request))
                break
            except RateLimitedError as error:
                assert error.retry_after_s is not None
                faults["429"] += 1
            except RetryableProviderError:
                faults["503"] += 1
        else:
            pytest.fail("a retried request never succeeded")
    assert 10 <= faults["429"] <= 40 and 10 <= faults["503"] <= 40, faults


def test_unknown_profile_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="profiles: " + ", ".join(PROFILES)):
        SimClient("x", "genius")
