from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from runbench.matrix import WORKFLOW_SUITE_VERSION
from runbench.plan import Cell
from runbench.records import Record

BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)


def make_record(
    model: str,
    status: str,
    *,
    instance: int = 0,
    prompt_type: str = "optimal",
    difficulty: str = "easy",
    task_type: str = "simple_task",
    rate: float = 0.8,
    attempt: int = 1,
    run_id: str = "run-1",
    suite: str = "workflow",
    minutes: int = 0,
    **fields: object,
) -> Record:
    """A record with hand-chosen facts, for tests that compute expected numbers by hand."""
    cell = Cell(suite, WORKFLOW_SUITE_VERSION, model, prompt_type, difficulty, task_type, rate)
    category = {
        "error": "api_error",
        "failure": "other_errors",
        "partial_success": "dependency_errors",
    }
    record = Record(
        test_id=cell.test_id(instance),
        attempt=attempt,
        run_id=run_id,
        recorded_at=BASE_TIME + timedelta(minutes=minutes),
        suite=suite,
        suite_version=WORKFLOW_SUITE_VERSION,
        model=model,
        deployment=model,
        provider="sim",
        prompt_type=prompt_type,
        flaw_type=prompt_type.removeprefix("flawed_")
        if prompt_type.startswith("flawed_")
        else None,
        difficulty=difficulty,
        task_type=task_type,
        task_id="t",
        instance=instance,
        tool_success_rate=rate,
        status=status,
        success=status in ("full_success", "partial_success"),
        error_category=category.get(status),
        workflow_score=None if status == "error" else 1.0 if status == "full_success" else 0.5,
    )
    return dataclasses.replace(record, **fields)
