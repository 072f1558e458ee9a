"""Synthetic records with realistic shape, for the benchmarks and the tests.

They pass every schema rule and spread over models, prompt types, difficulties and task types
like a real experiment, so store and analysis code is exercised as in production. Outcomes are
drawn from per-model skill so reports show differences worth looking at. Not used by any runner
(the demo runs real simulated tests).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from runbench.plan import Cell
from runbench.records import (
    DIFFICULTIES,
    MODEL_ERROR_CATEGORIES,
    PROMPT_TYPES,
    TASK_TYPES,
    WORKFLOW_RULES_VERSION,
    Record,
    flaw_of,
    is_success,
)

SYNTHETIC_MODELS = {"sim-strong": 0.75, "sim-average": 0.55, "sim-weak": 0.3}
_TOOLS = (
    "file_reader",
    "json_parser",
    "data_validator",
    "api_fetcher",
    "report_writer",
    "cache_store",
)
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def synthetic_records(
    count: int,
    *,
    seed: int = 0,
    run_id: str | None = None,
    models: dict[str, float] | None = None,
    start_instance: int = 0,
) -> Iterator[Record]:
    """Yield ``count`` valid records; the same seed gives the same records (except run_id)."""
    rng = random.Random(seed)
    skills = models or SYNTHETIC_MODELS
    names = sorted(skills)
    run = run_id or str(uuid.uuid4())
    for index in range(count):
        model = names[index % len(names)]
        prompt_type = PROMPT_TYPES[(index // len(names)) % len(PROMPT_TYPES)]
        difficulty = DIFFICULTIES[(index // 7) % len(DIFFICULTIES)]
        task_type = TASK_TYPES[(index // 3) % len(TASK_TYPES)]
        rate = (0.6, 0.7, 0.8, 0.9)[(index // 11) % 4]
        instance = start_instance + index // 97
        cell = Cell(
            "workflow", WORKFLOW_RULES_VERSION, model, prompt_type, difficulty, task_type, rate
        )
        yield _record(rng, cell, instance, run, skills[model], index)


def _record(
    rng: random.Random, cell: Cell, instance: int, run_id: str, skill: float, index: int
) -> Record:
    draw = rng.random()
    if draw < 0.02:
        status, category = "error", rng.choice(("api_error", "rate_limited", "test_timeout"))
    elif draw < 0.02 + skill * 0.98:
        status, category = "full_success", None
    elif draw < 0.02 + (skill + (1 - skill) / 3) * 0.98:
        status, category = "partial_success", rng.choice(MODEL_ERROR_CATEGORIES)
    else:
        status, category = "failure", rng.choice(MODEL_ERROR_CATEGORIES)
    required = tuple(rng.sample(_TOOLS, 3))
    executed = (
        required if status == "full_success" else tuple(rng.sample(_TOOLS, rng.randint(0, 4)))
    )
    scored = status != "error"
    workflow = round(
        rng.uniform(0.8, 1.0) if status == "full_success" else rng.uniform(0.0, 0.8), 4
    )
    return Record(
        test_id=cell.test_id(instance),
        attempt=1,
        run_id=run_id,
        recorded_at=_EPOCH + timedelta(seconds=index),
        suite=cell.suite,
        suite_version=cell.suite_version,
        model=cell.model,
        deployment=cell.model,
        provider="sim",
        prompt_type=cell.prompt_type,
        flaw_type=flaw_of(cell.prompt_type),
        difficulty=cell.difficulty,
        task_type=cell.task_type,
        task_id=f"{cell.task_type}-{cell.difficulty}-{instance % 30:03d}",
        instance=instance,
        tool_success_rate=cell.tool_success_rate,
        status=status,
        success=is_success(status),
        workflow_score=workflow if scored else None,
        phase2_score=round(rng.uniform(0.0, 1.0), 4) if scored else None,
        quality_score=round(rng.uniform(0.0, 1.0), 4) if scored else None,
        final_score=round(rng.uniform(0.0, 1.0), 4) if scored else None,
        turns=rng.randint(1, 10),
        tool_calls=rng.randint(0, 8),
        format_error_count=rng.randint(0, 2),
        api_retries=rng.randint(0, 1),
        required_tools=required,
        executed_tools=executed,
        tool_coverage_rate=round(len(set(executed) & set(required)) / len(required), 4),
        error_category=category,
        error_message=None if category is None else f"synthetic {category}",
        execution_time=round(rng.uniform(0.5, 30.0), 3),
        prompt_tokens=rng.randint(500, 5000),
        completion_tokens=rng.randint(50, 800),
        transcript=None,
    )
