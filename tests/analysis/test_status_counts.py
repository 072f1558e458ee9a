"""status counts a plan from the store's rows, exactly as planning its test ids would."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from runbench.analysis.status import plan_progress
from runbench.matrix import Matrix, build_matrix
from runbench.plan import Cell, GenerationSettings
from runbench.records import Record
from runbench.storage import open_store
from runbench.synthetic import SYNTHETIC_MODELS, synthetic_records

NATIVE = GenerationSettings(protocol="native")


def _with_settings(record: Record, settings: GenerationSettings) -> Record:
    """The record as if run with these settings: columns and test id agree."""
    cell = Cell(
        record.suite,
        record.suite_version,
        record.model,
        record.prompt_type,
        record.difficulty,
        record.task_type,
        record.tool_success_rate,
        settings,
    )
    columns = settings.columns()
    return dataclasses.replace(
        record,
        test_id=cell.test_id(record.instance),
        protocol=str(columns["protocol"]),
    )


def _by_ids(
    rows: list[Record],
    models: list[str],
    matrix: Matrix,
    plan_settings: dict[str, GenerationSettings] | None,
) -> list[tuple[int, int]]:
    """The oracle: plan every test id and look it up (the way status used to count)."""
    done = {row.test_id for row in rows if row.status != "error"}
    errored = {row.test_id for row in rows if row.status == "error"} - done
    counts = []
    for cell in matrix.cells(models, plan_settings):
        ids = list(cell.test_ids(range(matrix.num_instances)))
        counts.append((sum(i in done for i in ids), sum(i in errored for i in ids)))
    return counts


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 8), st.booleans())
def test_status_from_rows_equals_status_from_planned_ids(
    tmp_path_factory: object, seed: int, instances: int, native_plan: bool
) -> None:
    rows = list(synthetic_records(700, seed=seed))
    rows = [
        _with_settings(row, NATIVE) if index % 4 == 0 else row for index, row in enumerate(rows)
    ]
    rows += [dataclasses.replace(row, suite="other") for row in rows[:30]]
    root = Path(tmp_path_factory.mktemp("status"))  # type: ignore[attr-defined]
    store = open_store(root, "parquet")
    store.append(rows)
    models = sorted(SYNTHETIC_MODELS)[:2]
    matrix = build_matrix(
        prompt_types="all_with_flawed",
        difficulties="all",
        task_types="all",
        rates="0.6,0.7,0.8,0.9",
        num_instances=instances,
    )
    plan_settings = {model: NATIVE for model in models} if native_plan else None
    progress = plan_progress(store, models, matrix, plan_settings)
    counted = [(cell.done, cell.errored) for cell in progress.cells]
    assert counted == _by_ids(rows, models, matrix, plan_settings)
    assert sum(done for done, _ in counted) > 0
