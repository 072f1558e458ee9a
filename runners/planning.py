"""Turning a matrix and the store's rows into jobs: exact resume, new instances, shards.

``smart-batch`` plans instances 0..N-1 of every cell and keeps the tests that are not done (no
non-error row), so re-running a finished plan plans nothing. ``batch`` plans N new instances per
cell after the highest instance stored. A job's attempt number is one more than the highest
attempt its test already has (``storage.stored_tests``, the one definition of done and attempts).
Shards split by the test id, so each shard's share is the same in every process.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from runbench.runners.engine import Job
from runbench.storage import Store, StoredTests, stored_tests

from runbench.config import DeploymentConfig, ModelConfig
from runbench.errors import UsageError
from runbench.matrix import Matrix
from runbench.plan import Cell, PlannedTest, plan_tests


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def holds(self, test_id: str) -> bool:
        return int(test_id[:8], 16) % self.count == self.index


def parse_shard(text: str) -> Shard:
    """``i/N`` with 0 ≤ i < N.

    Raises:
        UsageError: anything else.
    """
    try:
        index_text, count_text = text.split("/")
        shard = Shard(int(index_text), int(count_text))
    except ValueError:
        raise UsageError(f"--shard '{text}' must look like i/N, e.g. 0/4") from None
    if shard.count < 1 or not 0 <= shard.index < shard.count:
        raise UsageError(f"--shard '{text}': need 0 ≤ i < N")
    return shard


_CELL_COLUMNS = [
    "suite",
    "suite_version",
    "model",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
]


def highest_instances(store: Store, model: str) -> dict[tuple[str, ...], int]:
    """The highest instance stored per cell of a model (for ``batch``), in one Arrow group-by."""
    table = store.scan([*_CELL_COLUMNS, "instance"], filters={"model": model})
    grouped = table.group_by(_CELL_COLUMNS).aggregate([("instance", "max")])
    return {
        _cell_key(*(row[name] for name in _CELL_COLUMNS)): row["instance_max"]
        for row in grouped.to_pylist()
    }


def _cell_key(
    suite: str, version: str, model: str, prompt: str, difficulty: str, task: str, rate: float
) -> tuple[str, ...]:
    return (suite, version, model, prompt, difficulty, task, f"{rate:.2f}")


def _deployment_for(model: ModelConfig, test_id: str, pinned: str | None) -> DeploymentConfig:
    if pinned is not None:
        for deployment in model.deployments:
            if deployment.name.lower() == pinned.lower():
                return deployment
        names = ", ".join(d.name for d in model.deployments)
        raise UsageError(f"model '{model.name}' has no deployment '{pinned}'; it has {names}")
    return model.deployments[int(test_id[8:16], 16) % len(model.deployments)]


def _jobs(
    tests: list[PlannedTest],
    model: ModelConfig,
    stored: StoredTests,
    pinned: str | None,
    shard: Shard | None,
) -> list[Job]:
    return [
        Job(
            test,
            stored.next_attempt(test.test_id),
            model,
            _deployment_for(model, test.test_id, pinned),
        )
        for test in tests
        if shard is None or shard.holds(test.test_id)
    ]


def plan_remaining(
    store: Store,
    models: Sequence[ModelConfig],
    matrix: Matrix,
    *,
    deployment: str | None = None,
    shard: Shard | None = None,
    skip: Collection[str] = frozenset(),
) -> tuple[list[Job], int]:
    """smart-batch: the not-done tests of instances 0..N-1 of every cell; (jobs, planned).

    ``skip`` holds tests not done that are left alone anyway (settled errors, ``settled.py``).
    """
    stored = stored_tests(store, models=[model.name for model in models])
    jobs: list[Job] = []
    planned = 0
    for model in models:
        tests = list(plan_tests(matrix.cells([model.name]), matrix.num_instances))
        planned += sum(shard is None or shard.holds(test.test_id) for test in tests)
        remaining = [
            test for test in tests if test.test_id not in stored.done and test.test_id not in skip
        ]
        jobs.extend(_jobs(remaining, model, stored, deployment, shard))
    return jobs, planned


def plan_new_instances(
    store: Store,
    model: ModelConfig,
    matrix: Matrix,
    count: int,
    *,
    deployment: str | None = None,
    shard: Shard | None = None,
) -> list[Job]:
    """batch: ``count`` new instances of every cell, after the highest instance stored."""
    if count < 1:
        raise UsageError("--count must be ≥ 1")
    stored = stored_tests(store, models=[model.name])
    highest = highest_instances(store, model.name)
    tests: list[PlannedTest] = []
    for cell in matrix.cells([model.name]):
        start = highest.get(_key(cell), -1) + 1
        ids = cell.test_ids(range(start, start + count))
        tests.extend(
            PlannedTest(cell, start + offset, test_id) for offset, test_id in enumerate(ids)
        )
    return _jobs(tests, model, stored, deployment, shard)


def _key(cell: Cell) -> tuple[str, ...]:
    return _cell_key(
        cell.suite,
        cell.suite_version,
        cell.model,
        cell.prompt_type,
        cell.difficulty,
        cell.task_type,
        cell.tool_success_rate,
    )
