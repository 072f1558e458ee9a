"""How far a plan has got: per cell, tests done of the target, tests that so far only errored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runbench.storage import Store

from runbench.matrix import Matrix
from runbench.plan import Cell, GenerationSettings


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
        return self.done == self.target


def plan_progress(
    store: Store,
    models: Sequence[str],
    matrix: Matrix,
    settings: Mapping[str, GenerationSettings] | None = None,
) -> PlanProgress:
    """Compare the plan's test ids with the store's rows; done means a non-error row exists.

    ``settings`` are each model's generation settings (``matrix.model_settings``), part of its
    test ids; without them a model's tests are those of the matrix's protocol alone.
    """
    import pyarrow.compute as pc

    table = store.scan(["test_id", "status"], filters={"model": list(models)})
    is_error = pc.equal(table.column("status"), "error")
    done = set(table.filter(pc.invert(is_error)).column("test_id").to_pylist())
    errored = set(table.filter(is_error).column("test_id").to_pylist()) - done
    progress = []
    for cell in matrix.cells(models, settings):
        ids = list(cell.test_ids(range(matrix.num_instances)))
        progress.append(
            CellProgress(
                cell=cell,
                target=len(ids),
                done=sum(test_id in done for test_id in ids),
                errored=sum(test_id in errored for test_id in ids),
            )
        )
    return PlanProgress(tuple(progress))
