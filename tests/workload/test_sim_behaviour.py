"""Simulated models behave like models (issue 11, requirement 4): properties over thousands of
fast sim tests, run in-process through the executor.

Every test is deterministic (seeded by its test id), so these are fixed numbers, not flaky
samples; the thresholds are the claims of the requirement.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Iterable

import pytest

from runbench.clients.sim import SimClient
from runbench.matrix import WORKFLOW_SUITE_VERSION
from runbench.plan import Cell
from runbench.records import DIFFICULTIES, FLAWS, PLAIN_PROMPT_TYPES, TASK_TYPES
from runbench.workload.executor import DEFAULT_MAX_TURNS, run_test
from runbench.workload.simulator import PROBABILITY_CEILING, PROBABILITY_FLOOR
from runbench.workload.tasks import builtin_library
from runbench.workload.turns import FAILURE_STREAK

MODELS = ("oracle", "strong", "average", "weak")
PROMPTS = PLAIN_PROMPT_TYPES + tuple(f"flawed_{flaw}" for flaw in FLAWS)
Key = tuple[str, str, str, str, float]  # model, prompt type, difficulty, task type, rate


async def _cell(key: Key, instances: int) -> tuple[bool, ...]:
    model, prompt, difficulty, task_type, rate = key
    client = SimClient(f"sim-{model}", model)
    full = []
    for instance in range(instances):
        cell = Cell("workflow", WORKFLOW_SUITE_VERSION, client.model, *key[1:])
        outcome = await run_test(
            client,
            builtin_library().task_for(task_type, difficulty, instance),
            prompt_type=prompt,
            test_id=cell.test_id(instance),
            tool_success_rate=rate,
        )
        full.append(outcome.scores.status == "full_success")
    return tuple(full)


@functools.cache
def _results(key: Key, instances: int = 24) -> tuple[bool, ...]:
    """Full success of each instance of a cell (cached: several properties share cells)."""
    return asyncio.run(_cell(key, instances))


def _pooled(keys: Iterable[Key], instances: int = 24) -> list[bool]:
    return [full for key in keys for full in _results(key, instances)]


def _rate(keys: Iterable[Key], instances: int = 24) -> float:
    pooled = _pooled(keys, instances)
    return sum(pooled) / len(pooled)


def _demo(model: str, prompt: str, task_types: Iterable[str] = TASK_TYPES) -> list[Key]:
    """The demo plan's cells (Makefile ``demo``): easy tasks at tool success rate 0.8."""
    return [(model, prompt, "easy", task_type, 0.8) for task_type in task_types]


def _paired_p(better: list[bool], worse: list[bool]) -> float:
    """One-sided exact sign test on the discordant pairs (McNemar): P(≥ wins | no effect)."""
    wins = sum(a and not b for a, b in zip(better, worse, strict=True))
    losses = sum(b and not a for a, b in zip(better, worse, strict=True))
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0


def _ceiling(steps: int, rate: float, turns: int = DEFAULT_MAX_TURNS) -> float:
    """The best full-success probability tool failures allow, by exact dynamic programming.

    A perfect agent calls each required step until it succeeds, one call a turn; each call
    succeeds with WorkflowBench's probability (dependencies always met, so only the clamp and
    the 0.9 per recent failure apply). It is a full success when every step succeeded within the
    turns, no five calls in a row failed (the executor's guard), and at least 40 % of the calls
    succeeded (else the workflow score stays below 0.8).
    """

    @functools.cache
    def chance(done: int, calls: int, recent: tuple[bool, ...], streak: int) -> float:
        if done == steps:
            return 1.0 if steps / calls >= 0.4 else 0.0
        if calls == turns or streak == FAILURE_STREAK:
            return 0.0
        p = rate * (0.9 ** sum(not ok for ok in recent[-3:]) if calls >= 3 else 1.0)
        p = max(PROBABILITY_FLOOR, min(PROBABILITY_CEILING, p))
        success = chance(done + 1, calls + 1, (*recent[-2:], True), 0)
        failure = chance(done, calls + 1, (*recent[-2:], False), streak + 1)
        return p * success + (1 - p) * failure

    return chance(0, 0, (), 0)


@pytest.mark.parametrize("prompt", PLAIN_PROMPT_TYPES)
def test_oracle_is_nearly_always_fully_successful_at_a_perfect_rate(prompt: str) -> None:
    keys = [("oracle", prompt, d, t, 1.0) for d in DIFFICULTIES for t in TASK_TYPES]
    assert _rate(keys) >= 0.97


@pytest.mark.parametrize(("rate", "difficulty"), [(0.8, "easy"), (0.6, "hard"), (0.5, "medium")])
def test_oracle_reaches_the_ceiling_tool_failures_allow(rate: float, difficulty: str) -> None:
    from runbench.workload.tasks import REQUIRED_TOOLS

    keys = [("oracle", p, difficulty, t, rate) for p in PLAIN_PROMPT_TYPES for t in TASK_TYPES]
    ceiling = _ceiling(REQUIRED_TOOLS[difficulty], rate)
    count = len(_pooled(keys))
    # a fixed sample of a perfect agent: allow three standard errors of sampling below it
    noise = 3 * math.sqrt(ceiling * (1 - ceiling) / count)
    assert _rate(keys) >= 0.97 * ceiling - noise, (ceiling, _rate(keys))


@pytest.mark.parametrize("model", ["average", "weak"])
def test_a_shown_plan_helps_and_thinking_does_not_hurt(model: str) -> None:
    baseline = _pooled(_demo(model, "baseline"))
    optimal = _pooled(_demo(model, "optimal"))
    cot = _pooled(_demo(model, "cot"))
    assert sum(optimal) > sum(baseline) and _paired_p(optimal, baseline) < 0.05
    assert sum(cot) >= sum(baseline)


@pytest.mark.parametrize("model", ["average", "weak"])
@pytest.mark.parametrize("flaw", FLAWS)
def test_every_flaw_lowers_full_success_against_optimal(model: str, flaw: str) -> None:
    assert _rate(_demo(model, f"flawed_{flaw}")) < _rate(_demo(model, "optimal"))


@pytest.mark.parametrize("model", ["average", "weak"])
def test_multi_stage_pipelines_are_harder_than_simple_tasks(model: str) -> None:
    def by_type(task_type: str) -> float:
        return _rate(k for prompt in PROMPTS for k in _demo(model, prompt, [task_type]))

    assert by_type("multi_stage_pipeline") < by_type("simple_task")


@pytest.mark.parametrize("model", ["average", "weak"])
def test_harder_difficulty_and_lower_tool_success_lower_success(model: str) -> None:
    def rate_of(difficulty: str, tool_rate: float) -> float:
        return _rate(
            (model, prompt, difficulty, task_type, tool_rate)
            for prompt in PLAIN_PROMPT_TYPES
            for task_type in TASK_TYPES
        )

    by_difficulty = [
        rate_of(difficulty, 0.8) for difficulty in ("very_easy", "medium", "very_hard")
    ]
    assert by_difficulty == sorted(by_difficulty, reverse=True) and len(set(by_difficulty)) == 3
    by_rate = [rate_of("easy", tool_rate) for tool_rate in (1.0, 0.8, 0.6)]
    assert by_rate == sorted(by_rate, reverse=True) and len(set(by_rate)) == 3


@pytest.mark.parametrize("prompt", PROMPTS)
def test_models_are_ordered_in_every_prompt_type(prompt: str) -> None:
    # 48 instances a cell: with a plan shown, oracle and strong differ by a few tests in 120
    rates = [_rate(_demo(model, prompt), instances=48) for model in MODELS]
    assert rates[0] > rates[1] > rates[2] > rates[3], dict(zip(MODELS, rates, strict=True))
