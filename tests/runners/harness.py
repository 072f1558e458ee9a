"""Jobs on fake endpoints and a run of them through the session, for the runner tests and benches.

An endpoint here is one model name on a ``tests.fakes.openai_server`` server, reached by a
``WireClient``; every job is a one-cell plan (baseline, easy, simple_task, 0.8) answered by the
fake's constant reply, capped at ``REQUESTS_PER_TEST`` turns so a test costs exactly that many
requests and the runner tests measure scheduling, not the workload's rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runbench.chat import ModelClient
from runbench.config import (
    DeploymentConfig,
    EndpointLimits,
    ModelConfig,
    ProviderConfig,
    RunbenchConfig,
)
from runbench.matrix import Matrix, build_matrix
from runbench.plan import plan_tests
from runbench.runners.context import RunContext
from runbench.runners.engine import Job, RunOptions, RunSummary
from runbench.runners.jobs import PlannedJobs
from runbench.runners.session import Prepared, execute, fit_matrix
from runbench.storage import open_store
from runbench.workload.suite import Workload
from runbench.workload.tasks import builtin_library
from runbench.workload.tools import builtin_registry
from tests.fakes.wire_client import WireClient

REQUESTS_PER_TEST = 3


@dataclass(frozen=True)
class Endpoint:
    """A model on a fake server, its limits and how many tests to plan on it."""

    base_url: str
    model: str
    tests: int
    limits: EndpointLimits = field(default_factory=EndpointLimits)


def jobs_of(endpoint: Endpoint) -> list[Job]:
    deployment = DeploymentConfig(
        endpoint.model,
        "fake",
        "openai",
        endpoint.base_url,
        None,
        None,
        None,
        endpoint.limits,
        30.0,
        5.0,
    )
    model = ModelConfig(endpoint.model, "fake", (deployment,))
    tests = plan_tests(_matrix(endpoint.tests).cells([endpoint.model]), endpoint.tests)
    return [Job(test, 1, model, deployment) for test in tests]


def _matrix(tests: int) -> Matrix:
    return build_matrix(
        prompt_types="baseline",
        difficulties="easy",
        task_types="simple_task",
        rates="0.8",
        num_instances=tests,
    )


def _client_of(model: ModelConfig, deployment: DeploymentConfig, *, protocol: str) -> ModelClient:
    """The factory a run of fake endpoints gets: one ``WireClient`` per endpoint."""
    assert deployment.base_url is not None
    return WireClient(deployment.base_url, model.name)


async def run_endpoints(
    endpoints: list[Endpoint],
    options: RunOptions,
    store_root: Path,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    """Run the endpoints' jobs, interleaved in the job list, as a user's run runs them.

    Through ``session.execute`` with a run context whose client factory makes the wire clients:
    session → engine → limited client → retry → client, the path of ``runbench smart-batch``
    (pre-flight off, as ``--no-preflight``).
    """
    options = dataclasses.replace(options, max_turns=REQUESTS_PER_TEST)
    lists = [jobs_of(endpoint) for endpoint in endpoints]
    jobs = [job for group in zip(*lists, strict=False) for job in group]
    jobs += [job for group in lists for job in group[min(map(len, lists)) :]]
    models = {job.model.name: job.model for job in jobs}
    config = RunbenchConfig({"fake": ProviderConfig("fake", "openai")}, models)
    store = open_store(store_root, "json")
    context = RunContext(config, Workload(builtin_library(), builtin_registry()), store, _client_of)
    fitted = fit_matrix(_matrix(max(endpoint.tests for endpoint in endpoints)), context.workload)
    prepared = Prepared(PlannedJobs.of(jobs), len(jobs), len(endpoints), fitted)
    try:
        return await execute(
            prepared,
            context,
            options,
            stop=stop,
            on_progress=on_progress,
            check_credentials=False,
            run_id="run-under-test",
        )
    finally:
        store.close()
