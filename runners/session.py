"""One run from start to end: resolve models, plan, build clients, run, close, refresh the summary.

The CLI's runner commands parse their flags into a ``RunRequest`` and call ``execute``; everything
else (planning, limits, retries, the store) happens here and below, so a run works the same from
Python.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runbench.clients.base import ModelClient
from runbench.clients.factory import make_client
from runbench.runners.engine import Job, RunOptions, RunSummary, run_jobs
from runbench.runners.planning import Shard, plan_new_instances, plan_remaining
from runbench.runners.preflight import PreflightReport, preflight
from runbench.storage import Store
from runbench.workload.tasks import TaskLibrary, builtin_library, custom_suite_version, load_tasks

from runbench.config import RunbenchConfig, load_config
from runbench.errors import UsageError
from runbench.matrix import Matrix, build_matrix

ASSUMED_TURNS_PER_TEST = 5
ASSUMED_API_LATENCY_S = 2.0


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
    config = load_config(request.config_path)
    models = [config.resolve_model(name) for name in request.models]
    library = load_tasks(request.tasks_path) if request.tasks_path else builtin_library()
    matrix = request.matrix
    if request.tasks_path:  # a library of one's own: its own suite version, so its own test ids
        matrix = dataclasses.replace(matrix, suite_version=custom_suite_version(library))
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


def dry_run(prepared: Prepared, options: RunOptions) -> DryRun:
    requests = len(prepared.jobs) * ASSUMED_TURNS_PER_TEST
    latencies = [
        (job.model.latency_ms / 1000 if job.deployment.kind == "sim" else ASSUMED_API_LATENCY_S)
        for job in prepared.jobs
    ]
    concurrency = max(1, options.max_workers)
    seconds = sum(latencies) * ASSUMED_TURNS_PER_TEST / concurrency
    return DryRun(
        prepared.cells,
        prepared.planned,
        prepared.planned - len(prepared.jobs),
        len(prepared.jobs),
        requests,
        seconds,
    )


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
        api_endpoints = {job.endpoint for job in prepared.jobs if job.deployment.kind != "sim"}
        checked = (
            await preflight(clients, api_endpoints, timeout_s=options.request_timeout_s, stop=stop)
            if check_credentials
            else PreflightReport({})
        )
        jobs = [job for job in prepared.jobs if job.endpoint not in checked.unusable]
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
    for provider, reason in checked.by_provider().items():
        summary.stopped[provider] = reason
        summary.stopped_exit_code = checked.exit_code
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


def load_plan_file(path: Path) -> tuple[tuple[str, ...], Matrix]:
    """A plan file (JSON): models and the matrix, with the keys of a phase.

    ``{"models": [...], "prompt_types": "all", "difficulties": ["easy"], "task_types": "all",
    "tool_success_rates": [0.8], "num_instances": 20}``; absent axes take the defaults.

    Raises:
        UsageError: the file is missing, not JSON, or holds an unknown key or value.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"plan file {path} is not readable JSON: {error}") from None
    if not isinstance(document, dict):
        raise UsageError(f"plan file {path} must hold a JSON object")
    allowed = {
        "models",
        "prompt_types",
        "difficulties",
        "task_types",
        "tool_success_rates",
        "num_instances",
        "phase",
    }
    unknown = set(document) - allowed
    if unknown:
        raise UsageError(
            f"plan file {path}: unknown key '{sorted(unknown)[0]}'; "
            f"keys are {', '.join(sorted(allowed))}"
        )

    def axis(name: str) -> str | None:
        value: Any = document.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else ",".join(map(str, value))

    models = document.get("models", [])
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise UsageError(f"plan file {path}: 'models' must be a list of model names")
    matrix = build_matrix(
        phase_name=document.get("phase"),
        prompt_types=axis("prompt_types"),
        difficulties=axis("difficulties"),
        task_types=axis("task_types"),
        rates=axis("tool_success_rates"),
        num_instances=document.get("num_instances"),
    )
    return tuple(models), matrix
