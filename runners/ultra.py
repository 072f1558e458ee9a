"""ultra-parallel: one model's plan split over shard processes that write one store.

Each shard is a ``smart-batch --shard i/N --deployment d`` child process, so it plans, resumes and
records exactly like smart-batch; shards never overlap because ``--shard`` splits by test id.
Shards on one endpoint split its budget (concurrency and requests per second). The supervisor
starts children in their own session, forwards SIGINT/SIGTERM to them, restarts a shard that
died abnormally (up to ``restarts`` times) and reports the worst exit code.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from runbench.config import ModelConfig

# exit codes from least to most serious; anything abnormal ranks as 1 (resumable)
_SEVERITY = (0, 1, 3, 2, 130)
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class ShardSpec:
    index: int
    count: int
    deployment: str
    max_workers: int
    requests_per_second: float | None

    def arguments(self) -> list[str]:
        extra = ["--qps", f"{self.requests_per_second:.4f}"] if self.requests_per_second else []
        return [
            "--shard",
            f"{self.index}/{self.count}",
            "--deployment",
            self.deployment,
            "--max-workers",
            str(self.max_workers),
            *extra,
        ]


def plan_shards(
    model: ModelConfig, count: int | None, max_workers: int | None, qps: float | None = None
) -> list[ShardSpec]:
    """Shards round-robin over the model's deployments; shards of one endpoint split its budget.

    ``max_workers`` and ``qps``, when given, are per endpoint and split like its own limits.
    """
    deployments = model.deployments
    total = count or max(2, len(deployments))
    per_endpoint = [
        sum(1 for i in range(total) if i % len(deployments) == d) for d in range(len(deployments))
    ]
    shards = []
    for index in range(total):
        slot = index % len(deployments)
        deployment = deployments[slot]
        share = per_endpoint[slot]
        budget = max_workers or deployment.limits.max_concurrency
        rpm = deployment.limits.requests_per_minute
        per_second = min(filter(None, (qps, rpm / 60 if rpm else None)), default=None)
        shards.append(
            ShardSpec(
                index,
                total,
                deployment.name,
                max(1, budget // share),
                per_second / share if per_second else None,
            )
        )
    return shards


@dataclass(slots=True)
class ShardProcess:
    spec: ShardSpec
    process: subprocess.Popen[bytes]
    restarts: int = 0
    exit_code: int | None = None


@dataclass(slots=True)
class UltraResult:
    exit_codes: dict[int, int] = field(default_factory=dict)
    restarts: dict[int, int] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        worst = 0
        for code in self.exit_codes.values():
            ranked = code if code in _SEVERITY else 1
            worst = max(worst, ranked, key=_SEVERITY.index)
        return 130 if self.interrupted else worst


class ShardSupervisor:
    """Starts, watches, restarts and signals the shard processes."""

    def __init__(
        self,
        base_command: Sequence[str],
        shards: Sequence[ShardSpec],
        *,
        restarts: int,
        on_event: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.base_command = list(base_command)
        self.shards = list(shards)
        self.restarts = restarts
        self.on_event = on_event
        self.running: list[ShardProcess] = []
        self.result = UltraResult()

    def _start(self, spec: ShardSpec) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "runbench", *self.base_command, *spec.arguments()]
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )

    def forward(self, signum: int) -> None:
        """Pass SIGINT/SIGTERM on to every live shard (they stop cleanly, keeping their results)."""
        self.result.interrupted = True
        for shard in self.running:
            if shard.process.poll() is None:
                shard.process.send_signal(signum)

    def run(self, on_tick: Callable[[], None] | None = None) -> UltraResult:
        self.running = [ShardProcess(spec, self._start(spec)) for spec in self.shards]
        self.on_event(f"started {len(self.running)} shards")
        while any(shard.exit_code is None for shard in self.running):
            time.sleep(_POLL_S)
            if on_tick is not None:
                on_tick()
            for shard in self.running:
                if shard.exit_code is not None:
                    continue
                code = shard.process.poll()
                if code is None:
                    continue
                abnormal = code < 0 or code not in _SEVERITY
                if abnormal and not self.result.interrupted and shard.restarts < self.restarts:
                    shard.restarts += 1
                    how = f"signal {-code}" if code < 0 else f"exit {code}"
                    self.on_event(
                        f"shard {shard.spec.index}/{shard.spec.count} died ({how}); "
                        f"restarting ({shard.restarts} of {self.restarts})"
                    )
                    shard.process = self._start(shard.spec)
                    continue
                shard.exit_code = code
                self.result.exit_codes[shard.spec.index] = code
                self.result.restarts[shard.spec.index] = shard.restarts
        return self.result


def install_forwarding(supervisor: ShardSupervisor) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: supervisor.forward(received))
