"""How far a plan has got: per cell, tests done of the target, tests that so far only errored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from runbench.storage import Store, stored_tests

from runbench.matrix import Matrix
from runbench.plan import Cell


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "target": self.target,
            "percent": round(self.percent, 2),
            "complete": self.is_complete,
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


def plan_progress(store: Store, models: Sequence[str], matrix: Matrix) -> PlanProgress:
    """Compare the plan's test ids with the store's done and only-errored tests."""
    stored = stored_tests(store, models=models)
    done, errored = stored.done, stored.errored
    progress = []
    for cell in matrix.cells(models):
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
