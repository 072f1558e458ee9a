"""Jobs on fake endpoints and a run of them through the engine, for the runner tests and benches.

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

from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig
from runbench.matrix import build_matrix
from runbench.plan import plan_tests
from runbench.runners.engine import Job, RunOptions, RunSummary, run_jobs
from runbench.storage import open_store
from runbench.workload.tasks import builtin_library
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
    matrix = build_matrix(
        prompt_types="baseline",
        difficulties="easy",
        task_types="simple_task",
        rates="0.8",
        num_instances=endpoint.tests,
    )
    tests = plan_tests(matrix.cells([endpoint.model]), endpoint.tests)
    return [Job(test, 1, model, deployment) for test in tests]


async def run_endpoints(
    endpoints: list[Endpoint],
    options: RunOptions,
    store_root: Path,
    *,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunSummary], None] | None = None,
) -> RunSummary:
    """Run the endpoints' jobs, interleaved in the job list, through ``run_jobs``."""
    options = dataclasses.replace(options, max_turns=REQUESTS_PER_TEST)
    lists = [jobs_of(endpoint) for endpoint in endpoints]
    jobs = [job for group in zip(*lists, strict=False) for job in group]
    jobs += [job for group in lists for job in group[min(map(len, lists)) :]]
    clients: dict[str, WireClient] = {
        jobs_of_one[0].endpoint: WireClient(endpoint.base_url, endpoint.model)
        for endpoint, jobs_of_one in zip(endpoints, lists, strict=True)
    }
    store = open_store(store_root, "json")
    try:
        return await run_jobs(
            jobs,
            store=store,
            clients=dict(clients),
            library=builtin_library(),
            options=options,
            run_id="run-under-test",
            on_progress=on_progress,
            stop=stop,
        )
    finally:
        for client in clients.values():
            await client.aclose()
        store.close()
