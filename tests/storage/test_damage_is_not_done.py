"""Tests whose only rows sit in a damaged part are not done for planning and status alike."""

from __future__ import annotations

from pathlib import Path

from runbench.analysis.status import plan_progress
from runbench.config import load_config
from runbench.matrix import build_matrix
from runbench.runners.planning import plan_remaining
from runbench.storage import open_store, stored_tests
from tests.analysis.conftest import make_record
from tests.fakes.damage import damage_column_chunk


def test_planning_and_status_rerun_what_a_damaged_part_held(tmp_path: Path) -> None:
    config = load_config(None)
    model = config.resolve_model("sim-average")
    matrix = build_matrix(
        prompt_types="optimal", difficulties="easy", task_types="simple_task", num_instances=6
    )
    cell = next(iter(matrix.cells([model.name])))
    for instances in (range(3), range(3, 6)):
        writer = open_store(tmp_path, "parquet")
        writer.append(
            [
                make_record(
                    model.name,
                    "full_success",
                    instance=index,
                    prompt_type=cell.prompt_type,
                    difficulty=cell.difficulty,
                    task_type=cell.task_type,
                    rate=cell.tool_success_rate,
                )
                for index in instances
            ]
        )
        writer.close()
    store = open_store(tmp_path, "parquet")
    cells = len(list(matrix.cells([model.name])))
    assert plan_progress(store, [model.name], matrix).done == 6
    first = min((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    damage_column_chunk(first, "executed_tools")  # a column neither planning nor status reads

    store = open_store(tmp_path, "parquet")
    progress = plan_progress(store, [model.name], matrix)
    jobs, planned = plan_remaining(store, [model], matrix)
    assert planned == 6 * cells
    assert progress.done == 3
    rerun = {job.test.instance for job in jobs if job.test.cell == cell}
    assert rerun == {0, 1, 2}
    assert stored_tests(store).done == {cell.test_id(index) for index in range(3, 6)}
