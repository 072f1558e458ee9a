"""What a run did, counted as it happens: the run summary and one progress object per endpoint.

The console and ``--json`` read everything they show from here (done, errors, in flight, the
current limit, 429s, retries, ETA), never from a limiter. Counts are honest: every planned job
ends in exactly one of finished, errors or not run, and the three add up to ``planned``.
``claimed_elsewhere`` is the part of ``not_run`` this process skipped because its claim was
refused (another live run holds the test, or it was done meanwhile): not an error, and not
counted twice; it still makes the run incomplete, since this process did not see those tests
done (running the same command again is a cheap no-op once they are).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from runbench.errors import EXIT_INCOMPLETE, EXIT_INTERRUPTED, EXIT_OK
from runbench.plan import Cell
from runbench.records import ERROR_STATUS, Record
from runbench.runners.jobs import Job, PlannedJobs


@dataclass(slots=True)
class EndpointProgress:
    """One endpoint's counts, and its limiter's gauges (in flight, limit, mean limit, pause)."""

    name: str
    total: int = 0
    done: int = 0
    full: int = 0
    errors: int = 0
    in_flight: int = 0
    limit: int = 0
    maximum: int = 0
    mean_limit: float = 0.0
    lowest_limit: int = 0
    paused_s: float = 0.0
    rate_limited: int = 0
    retries: int = 0
    attempts: int = 0
    claimed_elsewhere: int = 0  # part of not_run: another run holds or finished these

    @property
    def not_run(self) -> int:
        return max(0, self.total - self.done - self.errors)

    def to_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "done": self.done,
            "full_success": self.full,
            "errors": self.errors,
            "not_run": self.not_run,
            "claimed_elsewhere": self.claimed_elsewhere,
            "limit": self.limit,
            "maximum": self.maximum,
            "mean_limit": round(self.mean_limit, 2),
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class RunSummary:
    """What a run did; ``stopped`` maps a provider to the one-line reason it was stopped.

    ``final`` is set just before the last progress callback, so a caller that throttles its
    progress lines knows it must print this one.
    """

    run_id: str
    planned: int
    finished: int = 0
    full: int = 0
    partial: int = 0
    failure: int = 0
    errors: int = 0
    not_run: int = 0
    claimed_elsewhere: int = 0
    stopped: dict[str, str] = field(default_factory=dict)
    stopped_exit_code: int = 0
    interrupted: bool = False
    timed_out: bool = False
    final: bool = False
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    endpoints: dict[str, EndpointProgress] = field(default_factory=dict)
    by_cell: dict[Cell, dict[str, int]] = field(default_factory=dict)
    # a run on a Ray cluster: the nodes that ran it, each actor's rows, and records dropped
    # because their test was already stored (``runners/ray_cluster.py``)
    nodes: list[str] = field(default_factory=list)
    workers: dict[str, dict[str, EndpointProgress]] = field(default_factory=dict)
    late_copies: int = 0
    # seconds from a record's making on an actor to its append on the driver (a sample)
    shipment_delays: list[float] = field(default_factory=list)

    @classmethod
    def for_jobs(cls, run_id: str, jobs: Iterable[Job]) -> RunSummary:
        """An empty summary with each endpoint's total of planned jobs."""
        summary = cls(run_id=run_id, planned=0)
        for job in jobs:
            progress = summary.endpoints.setdefault(job.endpoint, EndpointProgress(job.endpoint))
            progress.total += 1
            summary.planned += 1
        return summary

    @classmethod
    def for_plan(cls, run_id: str, planned: PlannedJobs) -> RunSummary:
        """An empty summary of a plan: totals of lanes of known size now, of others as reached.

        A generated lane's total grows as its jobs are reached (``reached``), so a run stopped
        early (run limit, signal) counts as not run only the jobs it had reached.
        """
        summary = cls(run_id=run_id, planned=0)
        for lane in planned.lanes:
            progress = summary.endpoints.setdefault(lane.endpoint, EndpointProgress(lane.endpoint))
            progress.total += lane.size or 0
            summary.planned += lane.size or 0
        return summary

    def reached(self, jobs: Iterable[Job]) -> None:
        """Count generated jobs into the totals as the run reaches them."""
        for job in jobs:
            self.endpoints[job.endpoint].total += 1
            self.planned += 1

    def count(self, job: Job, record: Record) -> None:
        """Count one recorded test in the run, its endpoint and its cell."""
        progress = self.endpoints[job.endpoint]
        counts = self.by_cell.setdefault(
            job.test.cell, {"full_success": 0, "partial_success": 0, "failure": 0, "error": 0}
        )
        counts[record.status] += 1
        if record.status == ERROR_STATUS:
            self.errors += 1
            progress.errors += 1
            return
        self.finished += 1
        progress.done += 1
        self.full += record.status == "full_success"
        progress.full += record.status == "full_success"
        self.partial += record.status == "partial_success"
        self.failure += record.status == "failure"

    def claimed_by_another(self, job: Job) -> None:
        """Count a job skipped because its claim was refused (it stays in ``not_run``)."""
        self.claimed_elsewhere += 1
        self.endpoints[job.endpoint].claimed_elsewhere += 1

    def stop_provider(self, provider: str, message: str, exit_code: int) -> None:
        """Remember why a provider was stopped (the first reason wins)."""
        if provider not in self.stopped:
            self.stopped[provider] = message
            self.stopped_exit_code = exit_code

    def close(self) -> None:
        """Fix the totals at the end of the run: whatever was neither finished nor errored."""
        self.seconds = time.monotonic() - self.started
        self.not_run = max(0, self.planned - self.finished - self.errors)

    def eta_s(self, progress: EndpointProgress | None = None) -> float | None:
        """Seconds left at the pace so far (None before the first finished test)."""
        done = progress.done + progress.errors if progress else self.finished + self.errors
        skipped = progress.claimed_elsewhere if progress else self.claimed_elsewhere
        total = progress.total if progress else self.planned
        if not done:
            return None
        return (time.monotonic() - self.started) / done * max(0, total - done - skipped)

    def to_dict(self) -> dict[str, object]:
        """The machine-readable summary (``--json``): the run's counts and each endpoint's."""
        return {
            "run_id": self.run_id,
            "planned": self.planned,
            "finished": self.finished,
            "full_success": self.full,
            "partial_success": self.partial,
            "failure": self.failure,
            "errors": self.errors,
            "not_run": self.not_run,
            "claimed_elsewhere": self.claimed_elsewhere,
            "stopped": dict(self.stopped),
            "interrupted": self.interrupted,
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "endpoints": {name: progress.to_dict() for name, progress in self.endpoints.items()},
            **(self._cluster_dict() if self.nodes else {}),
        }

    def _cluster_dict(self) -> dict[str, object]:
        delays = sorted(self.shipment_delays)
        pick = (lambda q: round(delays[int(q * (len(delays) - 1))] * 1000, 1)) if delays else None
        return {
            "nodes": list(self.nodes),
            "late_copies": self.late_copies,
            "driver_latency_ms": {"median": pick(0.5), "p95": pick(0.95)} if pick else None,
        }

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.stopped:
            return self.stopped_exit_code
        return EXIT_INCOMPLETE if self.errors or self.not_run or self.timed_out else EXIT_OK
