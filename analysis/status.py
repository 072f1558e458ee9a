"""How far a plan has got: per cell, tests done of the target, tests that so far only errored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from runbench.matrix import Matrix
from runbench.plan import SETTINGS_COLUMNS, Cell, GenerationSettings, settings_mask
from runbench.storage import Store
from runbench.storage.stored import is_judged


@dataclass(frozen=True, slots=True)
class CellProgress:
    """One cell: ``errored`` counts planned tests whose only rows are infrastructure errors."""

    cell: Cell
    target: int
    done: int
    errored: int

    @property
    def remaining(self) -> int:
        return self.target - self.done


@dataclass(frozen=True, slots=True)
class PlanProgress:
    cells: tuple[CellProgress, ...]
    # planned (task type, difficulty) cells the task library has no task for: never done, so a
    # plan with any is never complete
    missing: tuple[tuple[str, str], ...] = ()

    @property
    def target(self) -> int:
        return sum(cell.target for cell in self.cells)

    @property
    def done(self) -> int:
        return sum(cell.done for cell in self.cells)

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.target if self.target else 100.0

    @property
    def is_complete(self) -> bool:
        return self.done == self.target and not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "target": self.target,
            "percent": round(self.percent, 2),
            "complete": self.is_complete,
            "missing_cells": [
                {"task_type": task_type, "difficulty": difficulty}
                for task_type, difficulty in self.missing
            ],
            "cells": [
                {
                    **asdict(cell.cell),
                    "done": cell.done,
                    "target": cell.target,
                    "errored": cell.errored,
                    "remaining": cell.remaining,
                }
                for cell in self.cells
            ],
        }


def plan_progress(
    store: Store,
    models: Sequence[str],
    matrix: Matrix,
    settings: Mapping[str, GenerationSettings] | None = None,
    *,
    check_models: bool = False,
) -> PlanProgress:
    """Per cell of the plan: its target, the tests done (a non-error row) and those only errored.

    Counted from the store's rows, never by planning test ids: a row's test_id is a function of
    its cell columns, instance and settings (``runbench/plan.py``), so a cell's done tests are the
    distinct test_ids of its non-error rows with an instance below ``num_instances`` and the
    plan's settings. A 10-million-test plan then costs one read of the store. ``settings`` are
    each model's generation settings from the configuration the caller read
    (``matrix.configured_settings``); a model without an entry counts its default-id tests.
    ``check_models`` checks the model names against the rows this read found
    (``matching.require_read``).

    Raises:
        UsageError: with ``check_models``, a model has no row in the store.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    settings = settings or {}
    cells = matrix.cells(models, settings)
    table = store.scan(
        ["test_id", "status", "instance", *_CELL_KEY, *SETTINGS_COLUMNS],
        filters=matrix.store_filters(models),
    )
    if check_models:
        from runbench.analysis.matching import require_read

        seen = pc.unique(table.column("model")).to_pylist()
        require_read(store, seen, table.num_rows, models, None)
    instance: Any = table.column("instance")
    keep = pc.less(instance, matrix.num_instances)
    model_column: Any = table.column("model")
    planned = pa.array([False] * table.num_rows, type=pa.bool_())
    for model in models:
        wanted = (settings or {}).get(model, GenerationSettings(protocol=matrix.protocol))
        mine = pc.and_(pc.equal(model_column, model), settings_mask(table, wanted))
        planned = pc.or_(planned, mine)
    rows = table.filter(pc.and_(keep, planned))
    judged_rows = is_judged(rows)  # the one rule of "done" (storage/stored.py)
    judged = rows.filter(judged_rows)
    errored = rows.filter(pc.invert(judged_rows))
    errored = errored.filter(
        pc.invert(pc.is_in(errored.column("test_id"), value_set=judged.column("test_id")))
    )
    done = _distinct_per_cell(judged)
    only_errors = _distinct_per_cell(errored)
    return PlanProgress(
        tuple(
            CellProgress(
                cell=cell,
                target=matrix.num_instances,
                done=done.get(_key(cell), 0),
                errored=only_errors.get(_key(cell), 0),
            )
            for cell in cells
        ),
        matrix.excluded,
    )


_CELL_KEY = ("model", "prompt_type", "difficulty", "task_type", "tool_success_rate")


def _key(cell: Cell) -> tuple[str, ...]:
    parts = (cell.model, cell.prompt_type, cell.difficulty, cell.task_type)
    return (*parts, f"{cell.tool_success_rate:.2f}")


def _distinct_per_cell(table: Any) -> dict[tuple[str, ...], int]:
    grouped = table.group_by(list(_CELL_KEY)).aggregate([("test_id", "count_distinct")])
    return {
        (
            row["model"],
            row["prompt_type"],
            row["difficulty"],
            row["task_type"],
            f"{row['tool_success_rate']:.2f}",
        ): row["test_id_count_distinct"]
        for row in grouped.to_pylist()
    }
