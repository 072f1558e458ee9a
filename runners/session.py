"""One run from start to end: resolve models, plan, build clients, run, close.

The CLI's runner commands parse their flags into a ``RunRequest``, build one ``RunContext``
(config, workload, store, client factory) and call ``run_request`` (or ``dry_run``); everything
else (signals, the event loop, planning, limits, retries) happens here and below, so a run works
the same from Python and returns a value.

Errors leave a run at one boundary, ``run_request``: whatever the engine's task groups raise
(a store error, a full disk inside an exception group) is translated there, with ``except*``,
into runbench's error tree; the rows already stored stay, the manifest is marked ended with the
outcome, and the outcome carries the error for the CLI to print as one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from runbench.chat import ModelClient
from runbench.config import ModelConfig, RunbenchConfig
from runbench.errors import (
    EXIT_INCOMPLETE,
    RunbenchError,
    StoreError,
    StoreNotAnswering,
    UsageError,
)
from runbench.matrix import MAX_NUM_INSTANCES, Matrix, model_settings
from runbench.planspec import PlanInputs
from runbench.runners.classifying import ModelClassifier
from runbench.runners.context import RunContext
from runbench.runners.engine import RunOptions, RunSummary, run_jobs
from runbench.runners.jobs import LEASE_S, PlannedJobs
from runbench.runners.manifest import finish_manifest, start_manifest
from runbench.runners.planning import (
    Shard,
    count_done,
    parse_shard,
    plan_new_instances,
    plan_remaining,
)
from runbench.runners.preflight import PreflightReport, preflight
from runbench.runners.retry import RetryPolicy
from runbench.runners.settled import parse_retry_errors, settled_categories
from runbench.runners.tool_search import RunSearch
from runbench.storage import Store
from runbench.storage.durable import store_error
from runbench.workload.suite import Workload, load_workload
from runbench.workload.tasks import MissingCell, TaskLibrary

_E = TypeVar("_E", bound=BaseException)
if TYPE_CHECKING:
    from runbench.runners.ray_cluster import ClusterRun

ASSUMED_TURNS_PER_TEST = 5
ASSUMED_API_LATENCY_S = 2.0
PROTOCOLS = ("tags", "native")
# measured: 600 sim tests of the built-in library took 1.5 s of one core (2026-11-29); a sim
# model's own latency comes on top, so a dry run of sim tests never estimates "0 s"
ASSUMED_SIM_SECONDS_PER_TEST = 0.0025


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything a run needs, resolved: models, matrix, mode and options (JSON round-trips)."""

    models: tuple[str, ...]
    matrix: Matrix
    mode: Literal["smart", "batch"] = "smart"
    count: int | None = None
    deployment: str | None = None
    shard: Shard | None = None
    options: RunOptions = field(default_factory=RunOptions)
    config_path: Path | None = None
    tasks_path: Path | None = None
    tools_path: Path | None = None
    # a WorkflowBench tool index (``--tool-index``; None: ``tool_index`` of the config, if any)
    tool_index_path: Path | None = None
    # infrastructure error categories to run again although settled (``settled.py``)
    retry_errors: tuple[str, ...] = ()
    # the model that classifies non-full tests (``classifying.py``); None: the rule-based one
    classifier: str | None = None
    # a Ray cluster's address to run on (``ray_cluster.py``) and how many actors to start there
    cluster: str | None = None
    actors: int | None = None

    def to_json(self) -> str:
        """The request as JSON, for a shard process (paths absolute, so any cwd works)."""
        payload = dataclasses.asdict(self)
        for key in ("config_path", "tasks_path", "tools_path", "tool_index_path"):
            value = getattr(self, key)
            payload[key] = str(value.resolve()) if value is not None else None
        return json.dumps(payload)

    @classmethod
    def from_json(cls, text: str) -> RunRequest:
        """The inverse of ``to_json``.

        Raises:
            UsageError: the text is not a request this version wrote.
        """
        try:
            payload = json.loads(text)
            options = dict(payload["options"])
            options["retry"] = RetryPolicy(**options["retry"])
            matrix: dict[str, Any] = {
                key: tuple(value) if isinstance(value, list) else value
                for key, value in payload["matrix"].items()
            }
            matrix["excluded"] = tuple(tuple(pair) for pair in matrix.get("excluded", ()))
            shard = payload["shard"]
            return cls(
                models=tuple(payload["models"]),
                matrix=Matrix(**matrix),
                mode=payload["mode"],
                count=payload["count"],
                deployment=payload["deployment"],
                shard=Shard(**shard) if shard else None,
                options=RunOptions(**options),
                config_path=Path(payload["config_path"]) if payload["config_path"] else None,
                tasks_path=Path(payload["tasks_path"]) if payload["tasks_path"] else None,
                tools_path=Path(payload["tools_path"]) if payload.get("tools_path") else None,
                tool_index_path=(
                    Path(payload["tool_index_path"]) if payload.get("tool_index_path") else None
                ),
                retry_errors=tuple(payload.get("retry_errors", ())),
                classifier=payload.get("classifier"),
                cluster=payload.get("cluster"),
                actors=payload.get("actors"),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"not a run request: {error}") from None


def run_options(
    *,
    max_workers: int,
    protocol: str,
    test_timeout_s: float,
    request_timeout_s: float | None,
    max_runtime_s: float | None,
    max_retries: int,
    adaptive: bool,
    requests_per_second: float | None,
    save_logs: bool,
    debug: bool,
    lease_s: float = LEASE_S,
) -> RunOptions:
    """The engine's options from the run flags; ``debug`` runs one test at a time, logs kept.

    Raises:
        UsageError: an unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol must be tags or native, not '{protocol}'")
    return RunOptions(
        max_workers=1 if debug else max_workers,
        protocol=protocol,
        test_timeout_s=test_timeout_s,
        request_timeout_s=request_timeout_s,
        max_runtime_s=max_runtime_s,
        retry=RetryPolicy(max_retries=max_retries),
        adaptive=adaptive,
        requests_per_second=requests_per_second,
        save_logs=save_logs or debug,
        lease_s=lease_s,
    )


@dataclass(frozen=True, slots=True)
class PlannedMatrix:
    """A plan's matrix fitted to its workload: suite version set, cells without a task left out."""

    matrix: Matrix
    workload: Workload
    missing: tuple[MissingCell, ...]

    def notes(self) -> list[str]:
        """One line per planned cell that has no task (never a crash, never a silent gap)."""
        return [*self.workload.library.notes, *(cell.line() for cell in self.missing)]


def fit_matrix(matrix: Matrix, workload: Workload) -> PlannedMatrix:
    """Name the matrix's suite version from the run's tasks and tools; drop cells with no task."""
    missing = workload.missing_cells(matrix.task_types, matrix.difficulties)
    fitted = dataclasses.replace(
        matrix,
        suite_version=workload.suite_version(base=matrix.suite_version),
        excluded=tuple((cell.task_type, cell.difficulty) for cell in missing),
    )
    return PlannedMatrix(fitted, workload, missing)


def plan_matrix(
    inputs: PlanInputs,
    config: RunbenchConfig,
    tasks_path: Path | None,
    tools_path: Path | None = None,
) -> PlannedMatrix:
    """The matrix of the plan inputs, fitted to the task library and tools it runs on.

    Raises:
        UsageError: the task library or tool registry cannot be read or does not fit.
    """
    return fit_matrix(inputs.matrix(), load_workload(tasks_path, tools_path or config.tools))


def build_request(
    inputs: PlanInputs,
    config: RunbenchConfig,
    *,
    mode: Literal["smart", "batch"],
    options: RunOptions,
    tasks_path: Path | None = None,
    tools_path: Path | None = None,
    tool_index_path: Path | None = None,
    count: int | None = None,
    deployment: str | None = None,
    shard: str | None = None,
    retry_errors: str | None = None,
    classifier: str | None = None,
) -> tuple[RunRequest, bool]:
    """A run request from the plan inputs; also whether the models came from the config file.

    ``classifier`` names the model that classifies non-full tests (any name or alias of a model
    of the config); None keeps the rule-based classifier. Model names are resolved here, once,
    to their canonical names: everything below looks them up by that name.

    Raises:
        UsageError: conflicting or bad plan inputs, no model to run, an unknown model or an
            unknown classifier.
    """
    named, from_config = inputs.models_to_run(config)
    models = tuple(dict.fromkeys(config.resolve_model(name).name for name in named))
    request = RunRequest(
        models,
        inputs.matrix(),
        mode,
        count=count,
        deployment=deployment,
        shard=parse_shard(shard) if shard else None,
        options=options,
        config_path=config.source,
        tasks_path=tasks_path,
        tools_path=tools_path,
        tool_index_path=tool_index_path,
        retry_errors=tuple(sorted(parse_retry_errors(retry_errors))),
        classifier=config.resolve_model(classifier).name if classifier else None,
    )
    return request, from_config


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a run would do, from the plan and the store, without running anything."""

    cells: int
    planned: int
    done: int
    remaining: int
    estimated_requests: int
    estimated_seconds: float
    notes: tuple[str, ...] = ()
    # tests left per model, and the store filters naming the plan's cells (for cost estimates)
    remaining_per_model: dict[str, int] = field(default_factory=dict)
    cell_filters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return (
            f"{self.cells} cells, {self.planned} tests planned, {self.done} done, "
            f"{self.remaining} to run: about {self.estimated_requests} requests, "
            f"{self.estimated_seconds:,.0f} s"
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    jobs: PlannedJobs
    planned: int
    cells: int
    fitted: PlannedMatrix
    classifier: ModelConfig | None = None  # the model that classifies non-full tests, if any

    @property
    def library(self) -> TaskLibrary:
        return self.fitted.workload.library


def prepare(request: RunRequest, context: RunContext) -> Prepared:
    """Resolve the models, fit the matrix to the context's workload and plan the jobs.

    Raises:
        UsageError: an unknown model or deployment, a bad count, or a plan above the size limit.
    """
    models, fitted = _resolve(request, context)
    store = context.store
    classifier = _model(context.config, request.classifier) if request.classifier else None
    matrix = fitted.matrix
    cells = matrix.cells_per_model * len(models)
    if request.mode == "batch":
        if len(models) != 1:
            raise UsageError(
                "batch runs one model; use smart-batch or provider-parallel for several"
            )
        jobs = plan_new_instances(
            store,
            models[0],
            matrix,
            request.count or 1,
            deployment=request.deployment,
            shard=request.shard,
        )
        return Prepared(PlannedJobs.of(jobs), len(jobs), cells, fitted, classifier)
    remaining, planned = plan_remaining(
        store,
        models,
        matrix,
        deployment=request.deployment,
        shard=request.shard,
        settled=settled_categories(request.retry_errors),
    )
    return Prepared(remaining, planned, cells, fitted, classifier)


def _resolve(request: RunRequest, context: RunContext) -> tuple[list[ModelConfig], PlannedMatrix]:
    """The models and the matrix fitted to the workload, sizes checked first.

    Raises:
        UsageError: a model the context's configuration does not define, or a plan above the
            size limit.
    """
    models = [_model(context.config, name) for name in request.models]
    request.matrix.check_size(len(models))
    if request.mode == "batch" and (request.count or 1) > MAX_NUM_INSTANCES:
        raise UsageError(f"--count is above the limit of {MAX_NUM_INSTANCES:,} new instances")
    # the run's protocol is part of its tests' identity (with each model's sampling settings)
    matrix = dataclasses.replace(request.matrix, protocol=request.options.protocol)
    return models, fit_matrix(matrix, context.workload)


def _model(config: RunbenchConfig, name: str) -> ModelConfig:
    """The model of a canonical name (``build_request`` resolved every name a user typed).

    Raises:
        UsageError: the configuration has no model of that name (a request built elsewhere).
    """
    found = config.models.get(name)
    return found if found is not None else config.resolve_model(name)


def _seconds_per_test(model: ModelConfig) -> float:
    if all(deployment.kind == "sim" for deployment in model.deployments):
        return model.latency_ms / 1000 * ASSUMED_TURNS_PER_TEST + ASSUMED_SIM_SECONDS_PER_TEST
    return ASSUMED_API_LATENCY_S * ASSUMED_TURNS_PER_TEST


def dry_run(request: RunRequest, context: RunContext) -> DryRun:
    """What a run would do, counted arithmetically: no test is planned, nothing materialised.

    Planned = cells × instances; done comes from the store's rows (``count_done``), so a
    10-million-test plan answers in the time it takes to read the store. A sharded request
    plans its ids (a shard's share is only known by id), within the plan size limit.

    Raises:
        UsageError: an unknown model, a bad task file, or a plan above the size limit.
    """
    models, fitted = _resolve(request, context)
    matrix = fitted.matrix
    store = context.store
    if request.shard is not None:
        return planned_dry_run(prepare(request, context), request.options)
    if request.mode == "batch":
        count = request.count or 1
        remaining = {model.name: matrix.cells_per_model * count for model in models}
        planned, done = sum(remaining.values()), 0
    else:
        settings = {model.name: model_settings(model, matrix.protocol) for model in models}
        done_per_model = count_done(store, [model.name for model in models], matrix, settings)
        per_model = matrix.cells_per_model * matrix.num_instances
        remaining = {model.name: per_model - done_per_model[model.name] for model in models}
        planned, done = per_model * len(models), sum(done_per_model.values())
    concurrency = max(1, request.options.max_workers)
    seconds = sum(remaining[model.name] * _seconds_per_test(model) for model in models)
    left = sum(remaining.values())
    return DryRun(
        matrix.cells_per_model * len(models),
        planned,
        done,
        left,
        left * ASSUMED_TURNS_PER_TEST,
        seconds / concurrency,
        tuple(fitted.notes()),
        remaining,
        _cell_filters(matrix, [model.name for model in models]),
    )


def planned_dry_run(prepared: Prepared, options: RunOptions) -> DryRun:
    """A dry run from planned jobs (for a shard, whose share is only known by test id)."""
    concurrency = max(1, options.max_workers)
    seconds = sum(_seconds_per_test(job.model) for job in prepared.jobs) / concurrency
    remaining: dict[str, int] = {}
    for job in prepared.jobs:
        remaining[job.model.name] = remaining.get(job.model.name, 0) + 1
    matrix = prepared.fitted.matrix
    return DryRun(
        prepared.cells,
        prepared.planned,
        prepared.planned - len(prepared.jobs),
        len(prepared.jobs),
        len(prepared.jobs) * ASSUMED_TURNS_PER_TEST,
        seconds,
        tuple(prepared.fitted.notes()),
        remaining,
        _cell_filters(matrix, list(remaining)),
    )


def _cell_filters(matrix: Matrix, models: list[str]) -> dict[str, Any]:
    return {
        "model": models,
        "suite_version": matrix.suite_version,
        "prompt_type": list(matrix.prompt_types),
        "difficulty": list(matrix.difficulties),
        "task_type": list(matrix.task_types),
        "tool_success_rate": list(matrix.tool_success_rates),
    }


async def execute(
    prepared: Prepared,
    context: RunContext,
    options: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunSummary], None] | None = None,
    check_credentials: bool = True,
    run_id: str | None = None,
    cluster: ClusterRun | None = None,
) -> RunSummary:
    """Run the prepared jobs; clients are closed after, whatever happens.

    With ``cluster`` the tests run on a Ray cluster's actors (``ray_cluster.py``); pre-flight,
    claims and the store stay here.

    Pre-flight runs under the request timeout, the stop event and the run limit: time it takes
    is taken from ``--max-runtime``, and a run limit reached during it runs no test. Every
    client comes from the context's factory, the classifier's too.
    """
    run_id = run_id or str(uuid.uuid4())
    clients: dict[str, ModelClient] = {}
    classifier: ModelClassifier | None = None
    search: RunSearch | None = None
    try:
        if prepared.classifier is not None:
            model = prepared.classifier
            client = context.clients(model, model.deployments[0], protocol=options.protocol)
            classifier = ModelClassifier(model, client, options)
        for lane in prepared.jobs.lanes:
            clients[lane.endpoint] = context.clients(
                lane.model, lane.deployment, protocol=options.protocol
            )
        checked, options = await _preflight_within_run_limit(
            clients, prepared.jobs, options, stop, check_credentials
        )
        jobs = prepared.jobs.without(checked.unusable)
        if checked.run_limit_reached:
            summary = RunSummary.for_jobs(run_id, jobs)
            summary.timed_out = True
            summary.close()
        else:
            workload = prepared.fitted.workload
            search = await context.open_search(options.retry)
            if cluster is not None:
                from runbench.runners.ray_cluster import run_on_ray

                summary = await run_on_ray(
                    jobs,
                    cluster=cluster,
                    store=context.store,
                    library=prepared.library,
                    options=options,
                    run_id=run_id,
                    on_progress=on_progress,
                    stop=stop,
                    tools=workload.tools,
                    similarity=search.similarity,
                    search=search.served,
                    classifier=prepared.classifier,
                )
                return _with_skipped(summary, prepared, checked)
            summary = await run_jobs(
                jobs,
                store=context.store,
                clients=clients,
                library=prepared.library,
                options=options,
                run_id=run_id,
                on_progress=on_progress,
                stop=stop,
                tools=workload.tools,
                similarity=search.similarity,
                ranker=search.ranker,
                classifier=classifier,
            )
    finally:
        if search is not None:
            await search.aclose()
        if classifier is not None:
            await classifier.aclose()
        for client in clients.values():
            await client.aclose()
    return _with_skipped(summary, prepared, checked)


def _with_skipped(summary: RunSummary, prepared: Prepared, checked: _Checked) -> RunSummary:
    """The summary with the endpoints pre-flight found unusable: stopped, their tests not run."""
    for provider, reason in checked.report.by_provider().items():
        summary.stopped[provider] = reason
        summary.stopped_exit_code = checked.report.exit_code
    skipped = len(prepared.jobs.only(checked.unusable))  # generates only the unusable lanes
    summary.planned += skipped
    summary.not_run += skipped
    return summary


@dataclass(frozen=True, slots=True)
class _Checked:
    report: PreflightReport
    run_limit_reached: bool = False

    @property
    def unusable(self) -> Mapping[str, Any]:
        return self.report.unusable


async def _preflight_within_run_limit(
    clients: dict[str, ModelClient],
    jobs: PlannedJobs,
    options: RunOptions,
    stop: asyncio.Event | None,
    check_credentials: bool,
) -> tuple[_Checked, RunOptions]:
    """Pre-flight bounded by the run limit; the options left with the time that remains."""
    if not check_credentials:
        return _Checked(PreflightReport({})), options
    api_endpoints = {lane.endpoint for lane in jobs.lanes if lane.deployment.kind != "sim"}
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(options.max_runtime_s):
            report = await preflight(
                clients, api_endpoints, timeout_s=options.request_timeout_s, stop=stop
            )
    except TimeoutError:
        return _Checked(PreflightReport({}), run_limit_reached=True), options
    if options.max_runtime_s is None:
        return _Checked(report), options
    left = options.max_runtime_s - (loop.time() - started)
    if left <= 0:
        return _Checked(report, run_limit_reached=True), options
    return _Checked(report), dataclasses.replace(options, max_runtime_s=left)


def _left_after(options: RunOptions, started: float) -> RunOptions:
    """The options with ``max_runtime_s`` cut by the time spent since ``started``."""
    if options.max_runtime_s is None:
        return options
    left = max(0.0, options.max_runtime_s - (time.monotonic() - started))
    return dataclasses.replace(options, max_runtime_s=left)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A finished ``run_request``: the summary, or only the plan size when nothing was left.

    ``failure`` is the error that ended the run early (a full disk, a store that refused an
    append), already translated into runbench's error tree: the summary still says what the
    run did, ``stored`` how many of its rows the store holds, and the exit code is the error's.
    """

    planned: int
    summary: RunSummary | None
    notes: tuple[str, ...] = ()
    failure: RunbenchError | None = None
    stored: int | None = None
    # why the manifest could not be marked ended (a disk with no byte left), when it could not
    manifest_error: str | None = None
    # one more than the highest instance this run planned: what a smart-batch resume needs to
    # finish exactly a ``batch``'s tests (re-running the batch would add new instances)
    instances_planned: int = 0

    @property
    def exit_code(self) -> int:
        if self.failure is not None:
            return self.failure.exit_code
        return 0 if self.summary is None else self.summary.exit_code

    @property
    def outcome(self) -> str:
        """How the run ended, in one word: what its manifest records."""
        if self.failure is not None:
            return "failed"
        if self.summary is None:
            return "finished"
        if self.summary.interrupted:
            return "interrupted"
        return "timed_out" if self.summary.timed_out else "finished"

    def to_dict(self) -> dict[str, Any]:
        if self.summary is None:
            return {
                "planned": self.planned,
                "finished": 0,
                "errors": 0,
                "not_run": 0,
                "exit_code": 0,
                "message": "plan already done",
            }
        # the plan's size, and how many of its tests this run set out to run
        shown = {**self.summary.to_dict(), "planned": self.planned, "to_run": self.summary.planned}
        if self.failure is not None:
            shown.update(
                exit_code=self.exit_code,
                outcome=self.outcome,
                error=self.failure.message,
                hint=self.failure.hint,
                stored=self.stored,
            )
        return shown


def run_request(
    request: RunRequest,
    context: RunContext,
    *,
    preflight_check: bool = True,
    on_progress: Callable[[RunSummary], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    stop_when: Callable[[asyncio.Event], None] | None = None,
    command: Sequence[str] = (),
    started: float | None = None,
) -> RunOutcome:
    """Plan and run a request in one event loop; SIGINT/SIGTERM stop it cleanly.

    The signal handlers set a stop event: scheduling stops, in-flight tests are cancelled and
    every finished record is flushed before this returns (the summary says ``interrupted``).
    ``stop_when`` may arm other stop sources on the same event (a shard watching its parent).
    The run's manifest (``manifest.py``) is written through the store at the start and the end,
    with the outcome; ``command`` is the command line it records.

    A store error or a full disk during the run does not escape as an exception group: it is
    returned as ``RunOutcome.failure`` (rows already stored are kept). Any other exception is a
    bug: it propagates, after the manifest is marked ``crashed``.

    Raises:
        UsageError: an unknown model, deployment or task file.
        StoreError: the store cannot be written (found before any test runs).
    """
    # --max-runtime counts from the command's start (``started``, ``time.monotonic``) or here:
    # planning is part of the run
    started = time.monotonic() if started is None else started
    store = context.store
    store.check_writable()
    prepared = prepare(request, context)
    notes = tuple(prepared.fitted.notes())
    if on_note is not None:
        for note in notes:
            on_note(note)
    if not prepared.jobs:
        return RunOutcome(prepared.planned, None, notes)

    cluster = _join_cluster(request, on_note)
    run_id = str(uuid.uuid4())
    manifest = start_manifest(run_id, request.to_json(), request.config_path, store.path, command)
    store.write_manifest(manifest)
    seen: list[RunSummary] = [RunSummary.for_plan(run_id, prepared.jobs)]

    def progress(summary: RunSummary) -> None:
        seen[0] = summary  # the last picture survives a run that ends in an exception group
        if on_progress is not None:
            on_progress(summary)

    def run(stop: asyncio.Event) -> Awaitable[RunSummary]:
        return execute(
            prepared,
            context,
            _left_after(request.options, started),
            stop=stop,
            on_progress=progress,
            check_credentials=preflight_check,
            run_id=run_id,
            cluster=cluster,
        )

    failure: RunbenchError | None = None
    try:
        summary = _run_in_one_loop(run, stop_when, cluster is not None)
    except* RunbenchError as group:
        failure = _first(group, RunbenchError)
    except* OSError as group:  # a full disk met outside the store's own translation
        failure = store_error(
            _first(group, OSError), "write the results of this run to", store.path
        )
    except* BaseException:  # a bug: its traceback is the report, but the run has ended
        _end_manifest(store, manifest, seen[0], prepared.planned, "crashed")
        raise
    # a batch's resume line finishes exactly the instances it planned (its jobs are a list;
    # a smart-batch's are generated and must not be walked here)
    instances = (
        max((job.test.instance for job in prepared.jobs), default=-1) + 1
        if request.mode == "batch"
        else 0
    )
    if failure is None:
        outcome = RunOutcome(prepared.planned, summary, notes, instances_planned=instances)
    else:
        seen[0].close()
        outcome = RunOutcome(
            prepared.planned,
            seen[0],
            notes,
            failure,
            _stored(store, run_id),
            instances_planned=instances,
        )
    ended = _end_manifest(store, manifest, seen[0], prepared.planned, outcome.outcome, outcome)
    if ended is None:
        return outcome
    if outcome.failure is None:
        return dataclasses.replace(outcome, failure=ended)
    if isinstance(outcome.failure, StoreNotAnswering) and isinstance(ended, StoreNotAnswering):
        return outcome  # the same silent store: one line says it
    return dataclasses.replace(outcome, manifest_error=ended.message)


def _run_in_one_loop(
    run: Callable[[asyncio.Event], Awaitable[RunSummary]],
    stop_when: Callable[[asyncio.Event], None] | None,
    on_cluster: bool = False,
) -> RunSummary:
    """Run in a new event loop whose SIGINT/SIGTERM set the run's stop event.

    ``on_cluster``: the process joined a Ray cluster for this run and leaves it at the end.
    """
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    async def main() -> RunSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in previous:
            loop.add_signal_handler(signum, stop.set)
        if stop_when is not None:
            stop_when(stop)
        try:
            return await run(stop)
        finally:
            for signum in previous:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(main())
    finally:  # asyncio leaves the defaults behind; give back what the caller had
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if on_cluster:
            from runbench.runners.ray_cluster import leave_cluster

            leave_cluster()


def _join_cluster(request: RunRequest, on_note: Callable[[str], None] | None) -> ClusterRun | None:
    """Join the request's Ray cluster, if it names one (before the run's event loop starts).

    Raises:
        UsageError: Ray is missing, no cluster answers, or the request keeps transcripts (not
            available on a cluster yet).
    """
    if request.cluster is None:
        return None
    from runbench.runners.ray_cluster import ClusterRun, connect

    if request.options.save_logs:
        raise UsageError(
            "--save-logs and --debug are not available with --ray yet",
            hint="run without them, or run the tests you want to read with smart-batch",
        )
    connect(request.cluster)
    return ClusterRun(request.cluster, request.actors, on_event=on_note)


def _first(group: BaseExceptionGroup[_E], kind: type[_E]) -> _E:
    """The first leaf of ``kind`` in a (possibly nested) exception group: the one reported.

    Task groups nest, so the error that ended a run may sit several groups deep; the others in
    the group are the cancellations it caused or the same failure met by another task.
    """
    for member in group.exceptions:
        if isinstance(member, BaseExceptionGroup):
            return _first(member, kind)
        if isinstance(member, kind):
            return member
    raise AssertionError("except* gives a group holding its kind")  # never reached


def _stored(store: Store, run_id: str) -> int | None:
    """How many rows of this run the store holds (after a failure: what was kept)."""
    try:
        return store.scan(["run_id"], filters={"run_id": run_id}).num_rows
    except RunbenchError:
        return None


def _end_manifest(
    store: Store,
    manifest: dict[str, Any],
    summary: RunSummary,
    planned: int,
    outcome: str,
    result: RunOutcome | None = None,
) -> StoreError | None:
    """Mark the run's manifest ended with its outcome; a store that refuses is returned, not raised.

    A run that ended on a full disk may find no room for its manifest either: the run's own
    error is the one to report, so this one is handed back for the caller to keep or drop.
    """
    counts = {
        "planned": planned,
        "finished": summary.finished,
        "errors": summary.errors,
        "not_run": summary.not_run,
    }
    code = result.exit_code if result is not None else EXIT_INCOMPLETE
    error = result.failure.message if result is not None and result.failure else None
    try:
        ended = finish_manifest(manifest, counts, code, outcome, error)
        if summary.nodes:
            ended["nodes"] = list(summary.nodes)
        store.write_manifest(ended)
    except StoreError as refused:
        return refused
    return None
