"""Turning a finished (or failed) test into its record: one row per test attempt (records.py).

A test the model was fairly judged on gets its scores; a test the infrastructure failed gets
status ``error`` with a category (``api_error``, ``rate_limited``, ``test_timeout``, ``crash``) and
a redacted message, and stays "not done".

Both pass through ``storable_record``, the one check where values from outside (the provider's
token counts, an error's text) become a record: a count the store cannot hold is stored as null
with a warning naming the test, text UTF-8 cannot store is escaped, so one bad reply never fails
the append of other tests and every stored row is readable by every reader.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from runbench.records import ERROR_STATUS, Record, flaw_of, is_success, storable_record
from runbench.redact import redact
from runbench.runners.jobs import Job
from runbench.workload.executor import TestOutcome

log = logging.getLogger(__name__)


def _identity(job: Job, run_id: str) -> dict[str, object]:
    cell = job.test.cell
    return {
        "test_id": job.test.test_id,
        "attempt": job.attempt,
        "run_id": run_id,
        "recorded_at": datetime.now(UTC),
        "suite": cell.suite,
        "suite_version": cell.suite_version,
        "model": job.model.name,
        "deployment": job.deployment.name,
        "provider": job.deployment.provider,
        "prompt_type": cell.prompt_type,
        "flaw_type": flaw_of(cell.prompt_type),
        "difficulty": cell.difficulty,
        "task_type": cell.task_type,
        "instance": job.test.instance,
        "tool_success_rate": round(cell.tool_success_rate, 2),
        **cell.settings.columns(),  # protocol and sampling settings: part of the test's identity
    }


def result_record(
    job: Job,
    outcome: TestOutcome,
    run_id: str,
    *,
    seconds: float,
    retries: int,
    transcript: str | None,
) -> Record:
    """The record of a test the model was judged on."""
    execution, scores = outcome.execution, outcome.scores
    return _storable(
        Record(
            **_identity(job, run_id),  # type: ignore[arg-type]
            task_id=outcome.task.task_id,
            status=scores.status,
            success=is_success(scores.status),
            workflow_score=scores.workflow_score,
            phase2_score=scores.phase2_score,
            quality_score=scores.quality_score,
            final_score=scores.final_score,
            turns=execution.turns,
            tool_calls=len(execution.results),
            format_error_count=execution.format_errors,
            api_retries=retries,
            required_tools=outcome.task.required_tools,
            executed_tools=tuple(result.tool for result in execution.results),
            tool_coverage_rate=scores.tool_coverage_rate,
            error_category=outcome.error_category,
            execution_time=round(seconds, 6),
            prompt_tokens=execution.prompt_tokens,
            completion_tokens=execution.completion_tokens,
            transcript=transcript,
            similarity_source=scores.similarity_source,
        )
    )


def error_record(
    job: Job,
    task_id: str,
    run_id: str,
    *,
    category: str,
    message: str,
    started: float,
    retries: int,
) -> Record:
    """The record of a test the infrastructure failed: status ``error``, never the model's."""
    return _storable(
        Record(
            **_identity(job, run_id),  # type: ignore[arg-type]
            task_id=task_id,
            status=ERROR_STATUS,
            success=False,
            error_category=category,
            error_message=redact(message),
            execution_time=round(time.monotonic() - started, 6),
            api_retries=retries,
        )
    )


def _storable(record: Record) -> Record:
    stored, warnings = storable_record(record)
    for warning in warnings:
        log.warning("test %s (%s): %s", record.test_id[:12], record.model, warning)
    return stored
