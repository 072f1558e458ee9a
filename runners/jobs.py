"""What a run is given: the jobs (planned tests bound to an endpoint) and the run options.

These are plain values shared by planning, the engine and the session; they hold no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runbench.config import DeploymentConfig, ModelConfig
from runbench.plan import PlannedTest
from runbench.runners.retry import RetryPolicy


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
class RunOptions:
    """How to run: per-endpoint workers, protocol, timeouts, retries and limits.

    ``max_workers`` caps the tests in flight *per endpoint*, so one slow endpoint cannot fill a
    shared pool. ``share`` is this process's fraction of every endpoint's budget (told rpm/tpm
    and the provider's own quota read from its headers); ultra-parallel sets it to one over the
    number of shards on the endpoint so that together they stay inside the quota.
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
