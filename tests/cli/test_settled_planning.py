"""A settled error (a deterministic refusal) is left alone by a resume, through the real command;
``--retry-errors`` runs it again. A planner that forgets the settled set pays for it every run."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runbench.records import Record
from runbench.storage import open_store
from tests.cli.conftest import Outcome

PLAN = ("--model", "sim-strong", "--task-types", "simple_task", "--difficulty", "easy")
PLAN += ("--prompt-types", "optimal", "--num-instances", "2")


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_resume_skips_a_settled_error_and_retry_errors_runs_it(
    tmp_path: Path, invoke: Callable[..., Outcome], storage: str
) -> None:
    where = ("--store", str(tmp_path / "first"), "--storage", storage)
    assert invoke("smart-batch", *PLAN, *where).code == 0
    source = open_store(tmp_path / "first", storage, create=False)
    try:
        done = source.scan().to_pylist()
    finally:
        source.close()
    assert len(done) == 2
    # a new store: one test refused as invalid (settled), the other never run
    refused = dataclasses.replace(
        Record(**done[0]),
        status="error",
        success=False,
        error_category="invalid_request",
        error_message="HTTP 400: maximum context length",
        workflow_score=None,
        phase2_score=None,
        quality_score=None,
        final_score=None,
    )
    store_path = tmp_path / "second"
    target = open_store(store_path, storage)
    try:
        target.append([refused])
    finally:
        target.close()
    where = ("--store", str(store_path), "--storage", storage)
    resumed = invoke("smart-batch", *PLAN, *where, "--json")
    assert resumed.code == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["finished"] == 1, summary  # only the test never run
    again = invoke("smart-batch", *PLAN, *where, "--retry-errors", "invalid_request", "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["finished"] == 1
    reader = open_store(store_path, storage, create=False)
    try:
        rows = reader.scan(columns=["test_id", "attempt", "status"]).to_pylist()
    finally:
        reader.close()
    ours = sorted(
        (row["attempt"], row["status"]) for row in rows if row["test_id"] == refused.test_id
    )
    assert ours[0] == (1, "error") and len(ours) == 2 and ours[1][1] != "error", ours
