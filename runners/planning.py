"""Turning a matrix and the store's rows into jobs: exact resume, new instances, shards.

``smart-batch`` plans instances 0..N-1 of every cell and keeps the tests that are not done (no
non-error row), so re-running a finished plan plans nothing; its jobs are generated lazily,
per endpoint, as the run pulls them (``PlannedJobs``). ``batch`` plans N new instances per
cell after the highest instance stored. A job's attempt number is one more than the highest
attempt its test already has (``storage.stored_tests``, the one definition of done and attempts).
Shards split by the test id, so each shard's share is the same in every process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbench.config import DeploymentConfig, ModelConfig
from runbench.errors import UsageError
from runbench.matrix import MAX_NUM_INSTANCES, Matrix, model_settings
from runbench.plan import (
    DEFAULT_PROTOCOL,
    SETTINGS_COLUMNS,
    Cell,
    GenerationSettings,
    PlannedTest,
    plan_tests,
    settings_mask,
)
from runbench.runners.jobs import EndpointPlan, Job, PlannedJobs
from runbench.runners.settled import SettledErrors
from runbench.storage import KnownView, Store
from runbench.storage.stored import is_judged


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


def count_done(
    store: Store,
    models: Sequence[str],
    matrix: Matrix,
    settings: Mapping[str, GenerationSettings] | None = None,
) -> dict[str, int]:
    """Per model: how many of the plan's tests are done, without planning one test id.

    A row's test_id is a function of its cell columns and instance (``runbench.plan``), so
    the plan's done tests are the distinct test_ids of non-error rows whose cell is one of the
    matrix's, whose instance is below ``num_instances`` and whose generation settings are the plan's
    (``settings`` per model, else the matrix's protocol alone). This is what lets a dry run of a
    10-million-test plan answer from the store alone.
    """
    import pyarrow.compute as pc

    table = store.scan(
        ["model", "test_id", "instance", "status", *SETTINGS_COLUMNS],
        filters=matrix.store_filters(models),
    )
    instance: Any = table.column("instance")
    keep = pc.and_(pc.less(instance, matrix.num_instances), is_judged(table))
    done = dict.fromkeys(models, 0)
    for model in models:
        wanted = (settings or {}).get(model, GenerationSettings(protocol=matrix.protocol))
        model_column: Any = table.column("model")
        mine = pc.and_(keep, pc.equal(model_column, model))
        judged = table.filter(pc.and_(mine, settings_mask(table, wanted)))
        done[model] = pc.count_distinct(judged.column("test_id")).as_py()
    return done


_CELL_COLUMNS = [
    "suite",
    "suite_version",
    "model",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    *SETTINGS_COLUMNS,
]


def highest_instances(store: Store, model: str) -> dict[Cell, int]:
    """The highest instance stored per cell of a model (for ``batch``), in one Arrow group-by.

    Rows are mapped back to their ``Cell`` (settings included), the one key of a cell.
    """
    table = store.scan([*_CELL_COLUMNS, "instance"], filters={"model": model})
    grouped = table.group_by(_CELL_COLUMNS).aggregate([("instance", "max")])
    highest: dict[Cell, int] = {}
    for row in grouped.to_pylist():
        settings = GenerationSettings(
            protocol=row["protocol"] or DEFAULT_PROTOCOL,
            temperature=row["temperature"],
            top_p=row["top_p"],
            max_tokens=row["max_tokens"],
            seed=row["seed"],
        )
        cell = Cell(
            row["suite"],
            row["suite_version"],
            row["model"],
            row["prompt_type"],
            row["difficulty"],
            row["task_type"],
            round(row["tool_success_rate"], 2),
            settings,
        )
        highest[cell] = max(highest.get(cell, -1), row["instance_max"])
    return highest


def _pinned(model: ModelConfig, pinned: str) -> DeploymentConfig:
    for deployment in model.deployments:
        if deployment.name.lower() == pinned.lower():
            return deployment
    names = ", ".join(d.name for d in model.deployments)
    raise UsageError(f"model '{model.name}' has no deployment '{pinned}'; it has {names}")


def _deployment_for(model: ModelConfig, test_id: str, pinned: str | None) -> DeploymentConfig:
    """The deployment that runs a test: the pinned one, else spread by the test id."""
    if pinned is not None:
        return _pinned(model, pinned)
    return model.deployments[int(test_id[8:16], 16) % len(model.deployments)]


def _jobs(
    tests: list[PlannedTest],
    model: ModelConfig,
    stored: KnownView,
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
    settled: frozenset[str] = frozenset(),
) -> tuple[PlannedJobs, int]:
    """smart-batch: the not-done tests of instances 0..N-1 of every cell; (jobs, planned).

    The jobs are generated as the run pulls them, one generator per endpoint, so a plan of any
    size starts at once; "done" is the store's ``known_tests``, which claims keep current
    while the run goes on (a test finished meanwhile by another run is skipped, not claimed).
    ``planned`` is counted arithmetically, except for a shard, whose share is only known by
    test id. ``settled`` names the error categories whose tests are left alone although not
    done (``settled.py``), answered from the same known tests: planning reads the store once.

    Raises:
        UsageError: ``deployment`` names no deployment of a model.
    """
    known = store.known_tests()
    skip = SettledErrors(known, settled)
    plans: list[EndpointPlan] = []
    planned = 0
    for model in models:
        cells = matrix.cells([model.name], {model.name: model_settings(model, matrix.protocol)})
        if shard is None:
            planned += len(cells) * matrix.num_instances
        else:
            ids = (test.test_id for test in plan_tests(cells, matrix.num_instances))
            planned += sum(1 for test_id in ids if shard.holds(test_id))
        chosen = [_pinned(model, deployment)] if deployment else list(model.deployments)
        for target in chosen:
            lane = _Lane(cells, matrix.num_instances, model, target, deployment, shard, known, skip)
            plans.append(EndpointPlan(model, target, lane.jobs))
    return PlannedJobs.merged(plans), planned


@dataclass(frozen=True, slots=True)
class _Lane:
    """The remaining tests of one model that one of its deployments runs, as a generator."""

    cells: list[Cell]
    num_instances: int
    model: ModelConfig
    deployment: DeploymentConfig
    pinned: str | None
    shard: Shard | None
    known: KnownView
    skip: SettledErrors

    def jobs(self) -> Iterator[Job]:
        deployments = self.model.deployments
        index = next(n for n, d in enumerate(deployments) if d is self.deployment)
        spread = self.pinned is None and len(deployments) > 1
        known, skip, shard = self.known, self.skip, self.shard
        for test in plan_tests(self.cells, self.num_instances):
            test_id = test.test_id
            if spread and int(test_id[8:16], 16) % len(deployments) != index:
                continue  # another deployment's test (the split _deployment_for makes)
            if shard and not shard.holds(test_id):
                continue
            about = known.about(test_id)  # one lookup: done, attempts and settled from it
            if about.done or skip.settles(about.error_category):
                continue
            yield Job(test, about.attempt + 1, self.model, self.deployment)


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
    if count > MAX_NUM_INSTANCES:
        raise UsageError(f"--count is above the limit of {MAX_NUM_INSTANCES:,} new instances")
    stored = store.known_tests()
    highest = highest_instances(store, model.name)
    tests: list[PlannedTest] = []
    for cell in matrix.cells([model.name], {model.name: model_settings(model, matrix.protocol)}):
        start = highest.get(cell, -1) + 1
        ids = cell.test_ids(range(start, start + count))
        tests.extend(
            PlannedTest(cell, start + offset, test_id) for offset, test_id in enumerate(ids)
        )
    return _jobs(tests, model, stored, deployment, shard)
