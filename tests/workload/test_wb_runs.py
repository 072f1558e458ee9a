"""A real smart-batch on WorkflowBench files: every cell planned and done, rows scored as the
tests score them with the same registry object.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from runbench.clients.sim import SimClient
from runbench.records import TASK_TYPES
from runbench.storage import open_store
from runbench.workload.executor import run_test
from runbench.workload.suite import load_workload
from tests.conftest import FIXTURES, run_cli
from tests.workload.test_wb_executor import _library

REGISTRY = FIXTURES / "wb" / "tool_registry.json"


def test_a_smart_batch_on_workflowbench_files_does_every_cell_and_scores_as_the_tests_do(
    tmp_path: Path,
) -> None:
    _library(tmp_path)  # writes tmp_path/task_library_enhanced_v3.json: every task type
    library = tmp_path / "task_library_enhanced_v3.json"
    common = [
        "--model",
        "sim-average",
        "--tasks",
        str(library),
        "--tools",
        str(REGISTRY),
        "--difficulty",
        "easy,medium,hard",
        "--task-types",
        "all",
        "--prompt-types",
        "baseline,optimal",
        "--tool-success-rate",
        "0.8",
        "--num-instances",
        "2",
        "--store",
        str(tmp_path / "store"),
    ]
    dry = run_cli("smart-batch", *common, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert "[INFO]" in dry.stderr and "the main library serves every such difficulty" in dry.stderr
    ran = run_cli("smart-batch", *common, "--quiet", "--no-preflight")
    assert ran.returncode == 0, ran.stderr
    assert run_cli("status", *common).returncode == 0, "every planned test is done"
    rows = open_store(tmp_path / "store", "json").scan().to_pylist()
    assert len(rows) == 3 * len(TASK_TYPES) * 2 * 2
    assert {(r["difficulty"], r["task_type"]) for r in rows} == {
        (d, t) for d in ("easy", "medium", "hard") for t in TASK_TYPES
    }
    # the same registry object the run loaded, and the row's own test id: equal scores
    workload = load_workload(library, REGISTRY)
    client = SimClient("sim-average", "average")
    for row in rows:
        outcome = asyncio.run(
            run_test(
                client,
                workload.library.task_for(row["task_type"], row["difficulty"], row["instance"]),
                prompt_type=row["prompt_type"],
                test_id=row["test_id"],
                tool_success_rate=row["tool_success_rate"],
                tools=workload.tools,
            )
        )
        assert (row["status"], row["workflow_score"], row["final_score"]) == (
            outcome.scores.status,
            outcome.scores.workflow_score,
            outcome.scores.final_score,
        ), json.dumps({k: row[k] for k in ("test_id", "task_id", "prompt_type")})


def test_a_planned_cell_without_a_task_is_listed_and_the_plan_is_never_complete(
    tmp_path: Path,
) -> None:
    common = [
        "--model",
        "sim-oracle",
        "--tasks",
        str(FIXTURES / "wb" / "task_library.json"),  # no data_pipeline task
        "--tools",
        str(REGISTRY),
        "--difficulty",
        "easy",
        "--task-types",
        "simple_task,data_pipeline",
        "--prompt-types",
        "optimal",
        "--num-instances",
        "1",
        "--store",
        str(tmp_path / "store"),
    ]
    missing = "no easy data_pipeline task"
    dry = run_cli("smart-batch", *common, "--dry-run")
    assert dry.returncode == 0 and missing in dry.stderr
    assert run_cli("smart-batch", *common, "--quiet", "--no-preflight").returncode == 0
    status = run_cli("status", *common)
    assert status.returncode == 1, "a plan with a cell that has no task is never complete"
    assert missing in status.stderr
    assert "1/1 tests done (100.0 %); not complete: no task for easy data_pipeline" in status.stdout
    as_json = json.loads(run_cli("status", *common, "--json").stdout)
    assert as_json["complete"] is False
    assert as_json["missing_cells"] == [{"task_type": "data_pipeline", "difficulty": "easy"}]
