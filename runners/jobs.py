"""What a run is given: the jobs (planned tests bound to an endpoint) and the run options.

These are plain values shared by planning, the engine and the session; they hold no state.
``PlannedJobs`` holds a plan's jobs per endpoint as generators, not lists: a plan of any size
starts at once and memory follows the queues, not the plan (each lane pulls its next jobs as its
queue drains).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from runbench.config import DeploymentConfig, ModelConfig
from runbench.plan import PlannedTest
from runbench.runners.retry import RetryPolicy

# Long enough that a busy 2-core machine never lets a live run's lease lapse between renewals,
# short enough that a hung holder on another host frees its tests within a minute.
LEASE_S = 30.0


@dataclass(frozen=True, slots=True)
class Job:
    """One planned test, with its attempt number and the endpoint that will run it."""

    test: PlannedTest
    attempt: int
    model: ModelConfig
    deployment: DeploymentConfig

    @property
    def endpoint(self) -> str:
        """The scheduling key: limits, queues and workers are per provider × deployment."""
        return f"{self.deployment.provider}/{self.deployment.name}"


@dataclass(frozen=True, slots=True)
class EndpointPlan:
    """One endpoint's jobs: ``jobs()`` generates them afresh, in plan order, on each call.

    ``size`` is their number when known without generating them (a list), else ``None``.
    """

    model: ModelConfig
    deployment: DeploymentConfig
    jobs: Callable[[], Iterator[Job]]
    size: int | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.deployment.provider}/{self.deployment.name}"


@dataclass(frozen=True, slots=True)
class PlannedJobs:
    """A plan's jobs, one ``EndpointPlan`` per endpoint, generated as they are run.

    Iterating generates every job (a dry run of a shard, tests); ``len`` counts by generating;
    truth asks each endpoint for its first job only. The engine never does either: it pulls
    each endpoint's jobs a claim batch at a time.
    """

    lanes: tuple[EndpointPlan, ...] = ()

    @classmethod
    def of(cls, jobs: Iterable[Job]) -> PlannedJobs:
        """Jobs already built (``batch``, tests), grouped by endpoint in order of appearance."""
        grouped: dict[str, list[Job]] = {}
        for job in jobs:
            grouped.setdefault(job.endpoint, []).append(job)
        return cls(
            tuple(
                EndpointPlan(group[0].model, group[0].deployment, _replay(group), len(group))
                for group in grouped.values()
            )
        )

    @classmethod
    def merged(cls, plans: Iterable[EndpointPlan]) -> PlannedJobs:
        """One lane per endpoint: plans of one endpoint (two models on one deployment) chained."""
        grouped: dict[str, list[EndpointPlan]] = {}
        for plan in plans:
            grouped.setdefault(plan.endpoint, []).append(plan)
        lanes = []
        for group in grouped.values():
            if len(group) == 1:
                lanes.append(group[0])
                continue
            sizes = [plan.size for plan in group]
            total = None if None in sizes else sum(size or 0 for size in sizes)
            lanes.append(EndpointPlan(group[0].model, group[0].deployment, _chained(group), total))
        return cls(tuple(lanes))

    def __iter__(self) -> Iterator[Job]:
        return chain.from_iterable(lane.jobs() for lane in self.lanes)

    def __bool__(self) -> bool:
        return any(next(lane.jobs(), None) is not None for lane in self.lanes)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def only(self, endpoints: Collection[str]) -> PlannedJobs:
        """The lanes of these endpoints."""
        return PlannedJobs(tuple(lane for lane in self.lanes if lane.endpoint in endpoints))

    def without(self, endpoints: Collection[str]) -> PlannedJobs:
        """Every lane but those of these endpoints (e.g. endpoints pre-flight found unusable)."""
        return PlannedJobs(tuple(lane for lane in self.lanes if lane.endpoint not in endpoints))


def _replay(jobs: list[Job]) -> Callable[[], Iterator[Job]]:
    return lambda: iter(jobs)


def _chained(plans: list[EndpointPlan]) -> Callable[[], Iterator[Job]]:
    return lambda: chain.from_iterable(plan.jobs() for plan in plans)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: per-endpoint workers, protocol, timeouts, retries and limits.

    ``max_workers`` caps the tests in flight *per endpoint*, so one slow endpoint cannot fill a
    shared pool. ``share`` is this process's fraction of every endpoint's budget (told rpm/tpm
    and the provider's own quota read from its headers); ultra-parallel sets it to one over the
    number of shards on the endpoint so that together they stay inside the quota.
    ``lease_s`` is how long a run on another host may stay silent before its claims are taken
    over (``storage/claims.py``); on one host a live run keeps its claims whatever the lease.
    """

    max_workers: int = 16
    protocol: str = "tags"
    max_turns: int = 10
    test_timeout_s: float = 600.0
    request_timeout_s: float | None = None
    max_runtime_s: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    adaptive: bool = True
    requests_per_second: float | None = None
    save_logs: bool = False
    share: float = 1.0
    lease_s: float = LEASE_S
