"""One run from start to end: resolve models, plan, build clients, run, close, refresh the summary.

The CLI's runner commands parse their flags into a ``RunRequest`` and call ``execute``; everything
else (planning, limits, retries, the store) happens here and below, so a run works the same from
Python.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runbench.clients.base import ChatMessage, ChatRequest, ModelClient
from runbench.clients.factory import make_client
from runbench.runners.engine import Job, RunOptions, RunSummary, run_jobs
from runbench.runners.planning import Shard, count_done, plan_new_instances, plan_remaining
from runbench.storage import Store
from runbench.workload.tasks import TaskLibrary, builtin_library, custom_suite_version, load_tasks

from runbench.config import ModelConfig, RunbenchConfig, load_config
from runbench.errors import AuthenticationError, ProviderError, QuotaExhaustedError, UsageError
from runbench.matrix import MAX_NUM_INSTANCES, Matrix, model_settings
from runbench.planfile import load_plan_file as load_plan_file  # the CLI's import path

ASSUMED_TURNS_PER_TEST = 5
ASSUMED_API_LATENCY_S = 2.0
# measured: 600 sim tests of the built-in library took 1.5 s of one core (2026-11-29); a sim
# model's own latency comes on top, so a dry run of sim tests never estimates "0 s"
ASSUMED_SIM_SECONDS_PER_TEST = 0.0025


@dataclass(frozen=True, slots=True)
class RunRequest:
    models: tuple[str, ...]
    matrix: Matrix
    mode: Literal["smart", "batch"] = "smart"
    count: int | None = None
    deployment: str | None = None
    shard: Shard | None = None
    options: RunOptions = field(default_factory=RunOptions)
    config_path: Path | None = None
    tasks_path: Path | None = None


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a run would do, from the plan and the store, without running anything."""

    cells: int
    planned: int
    done: int
    remaining: int
    estimated_requests: int
    estimated_seconds: float


@dataclass(frozen=True, slots=True)
class Prepared:
    jobs: list[Job]
    planned: int
    cells: int
    library: TaskLibrary


def prepare(request: RunRequest, store: Store) -> Prepared:
    """Resolve the models and plan the jobs.

    Raises:
        UsageError: an unknown model or deployment, a bad task file, or a bad count.
    """
    models, matrix, library = _resolve(request)
    cells = len(matrix.cells([model.name for model in models]))
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
        return Prepared(jobs, len(jobs), cells, library)
    jobs, planned = plan_remaining(
        store, models, matrix, deployment=request.deployment, shard=request.shard
    )
    return Prepared(jobs, planned, cells, library)


def _resolve(request: RunRequest) -> tuple[list[ModelConfig], Matrix, TaskLibrary]:
    """The models, the matrix (with a custom library's suite version) and the task library.

    Raises:
        UsageError: an unknown model, a bad task file, or a plan above the size limit.
    """
    config = load_config(request.config_path)
    models = [config.resolve_model(name) for name in request.models]
    request.matrix.check_size(len(models))
    if request.mode == "batch" and (request.count or 1) > MAX_NUM_INSTANCES:
        raise UsageError(f"--count is above the limit of {MAX_NUM_INSTANCES:,} new instances")
    library = load_tasks(request.tasks_path) if request.tasks_path else builtin_library()
    # the run's protocol is part of its tests' identity (with each model's sampling settings)
    matrix = dataclasses.replace(request.matrix, protocol=request.options.protocol)
    if request.tasks_path:  # a library of one's own: its own suite version, so its own test ids
        matrix = dataclasses.replace(matrix, suite_version=custom_suite_version(library))
    return models, matrix, library


def _seconds_per_test(model: ModelConfig) -> float:
    if all(deployment.kind == "sim" for deployment in model.deployments):
        return model.latency_ms / 1000 * ASSUMED_TURNS_PER_TEST + ASSUMED_SIM_SECONDS_PER_TEST
    return ASSUMED_API_LATENCY_S * ASSUMED_TURNS_PER_TEST


def estimate(request: RunRequest, store: Store) -> DryRun:
    """What a run would do, counted arithmetically: no test is planned, nothing materialised.

    Planned = cells × instances; done comes from the store's rows (``count_done``), so a
    10-million-test plan answers in the time it takes to read the store. A sharded request
    plans its ids (a shard's share is only known by id), within the plan size limit.

    Raises:
        UsageError: an unknown model, a bad task file, or a plan above the size limit.
    """
    models, matrix, _ = _resolve(request)
    cells = matrix.cells_per_model * len(models)
    if request.shard is not None:
        return dry_run(prepare(request, store), request.options)
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
    return DryRun(cells, planned, done, left, left * ASSUMED_TURNS_PER_TEST, seconds / concurrency)


def dry_run(prepared: Prepared, options: RunOptions) -> DryRun:
    requests = len(prepared.jobs) * ASSUMED_TURNS_PER_TEST
    concurrency = max(1, options.max_workers)
    seconds = sum(_seconds_per_test(job.model) for job in prepared.jobs) / concurrency
    return DryRun(
        prepared.cells,
        prepared.planned,
        prepared.planned - len(prepared.jobs),
        len(prepared.jobs),
        requests,
        seconds,
    )


async def preflight(clients: dict[str, ModelClient], jobs: list[Job]) -> dict[str, ProviderError]:
    """One tiny request per API endpoint before any test is spent.

    Returns the providers whose key was rejected or whose quota is gone; any other failure is
    left to the run's retry layer.
    """
    kinds = {job.endpoint: job.deployment.kind for job in jobs}
    stopped: dict[str, ProviderError] = {}
    request = ChatRequest((ChatMessage("user", "Reply with OK."),), test_id="preflight")
    for endpoint, client in clients.items():
        if kinds.get(endpoint) == "sim" or client.provider in stopped:
            continue
        try:
            await client.complete(request)
        except (AuthenticationError, QuotaExhaustedError) as error:
            stopped[client.provider] = error
        except ProviderError:
            continue
    return stopped


async def execute(
    prepared: Prepared,
    store: Store,
    options: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunSummary], None] | None = None,
    check_credentials: bool = True,
) -> RunSummary:
    """Run the prepared jobs; clients are closed and a JSON store's summary.json refreshed after."""
    run_id = str(uuid.uuid4())
    clients: dict[str, ModelClient] = {}
    try:
        for job in prepared.jobs:
            if job.endpoint not in clients:
                clients[job.endpoint] = make_client(
                    job.model, job.deployment, protocol=options.protocol
                )
        rejected = await preflight(clients, prepared.jobs) if check_credentials else {}
        jobs = [job for job in prepared.jobs if job.deployment.provider not in rejected]
        summary = await run_jobs(
            jobs,
            store=store,
            clients=clients,
            library=prepared.library,
            options=options,
            run_id=run_id,
            on_progress=on_progress,
            stop=stop,
        )
    finally:
        for client in clients.values():
            closer = getattr(client, "aclose", None)
            if closer is not None:
                await closer()
    for provider, error in rejected.items():
        summary.stopped[provider] = error.message
        summary.stopped_exit_code = error.exit_code
    skipped = len(prepared.jobs) - len(jobs)
    summary.planned += skipped
    summary.not_run += skipped
    if summary.finished or summary.errors:
        from runbench.analysis.summary import refresh_summary

        await asyncio.to_thread(refresh_summary, store)
    return summary


def models_of_provider(config: RunbenchConfig, provider: str) -> tuple[str, ...]:
    """Every model of a provider (for ``provider-parallel --provider``).

    Raises:
        UsageError: no provider of that name, or it has no model.
    """
    if provider not in config.providers:
        raise UsageError(
            f"unknown provider '{provider}'; providers: {', '.join(sorted(config.providers))}"
        )
    models = tuple(name for name, model in config.models.items() if model.provider == provider)
    if not models:
        raise UsageError(f"provider '{provider}' has no model in the configuration")
    return models
