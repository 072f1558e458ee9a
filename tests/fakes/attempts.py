"""Another attempt of a stored test, as a later run would record it: an error or a judged result."""

from __future__ import annotations

import dataclasses

from runbench.records import Record


def another_attempt(record: Record, attempt: int, status: str, category: str | None) -> Record:
    """``record``'s test again as ``attempt``: ``status`` ``error`` with an infrastructure
    ``category`` (no scores), or a judged ``failure`` with a model error ``category``."""
    if status == "error":
        return dataclasses.replace(
            record,
            attempt=attempt,
            status="error",
            success=False,
            error_category=category,
            error_message="HTTP 400" if category == "invalid_request" else "HTTP 503",
            workflow_score=None,
            phase2_score=None,
            quality_score=None,
            final_score=None,
        )
    return dataclasses.replace(
        record,
        attempt=attempt,
        status="failure",
        success=False,
        error_category=category,
        error_message="judged again",
        workflow_score=0.1,
        phase2_score=0.1,
        quality_score=0.1,
        final_score=0.1,
        execution_time=1.0 / 3.0,
    )
