"""Progress as plain values: what a live view shows, taken from a run, a pipe or a JSON line.

The engine's summary changes while a run goes on; a view needs one consistent picture of it that
can also cross a process boundary (an ultra-parallel shard reports to its parent through a pipe).
``ProgressSnapshot`` is that picture: endpoint rows of counts, nothing live, JSON both ways.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from runbench.runners.summary import EndpointProgress, RunSummary


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """One endpoint's counts (``shard`` set when the row comes from an ultra-parallel shard)."""

    name: str
    total: int
    done: int
    full: int
    errors: int
    in_flight: int
    limit: int
    rate_limited: int
    retries: int
    eta_s: float | None
    shard: str | None = None


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    planned: int
    finished: int
    full: int
    errors: int
    eta_s: float | None
    endpoints: tuple[EndpointRow, ...] = field(default_factory=tuple)

    @property
    def ended(self) -> int:
        return self.finished + self.errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ProgressSnapshot:
        rows = tuple(EndpointRow(**row) for row in payload.get("endpoints", ()))
        return cls(
            planned=int(payload["planned"]),
            finished=int(payload["finished"]),
            full=int(payload["full"]),
            errors=int(payload["errors"]),
            eta_s=payload.get("eta_s"),
            endpoints=rows,
        )


def snapshot_of(summary: RunSummary) -> ProgressSnapshot:
    """The picture of a running (or finished) run; on a Ray cluster, one row per actor."""
    rows = []
    if summary.workers:
        for label, endpoints in summary.workers.items():
            for name, progress in endpoints.items():
                rows.append(_row(name, progress, None, shard=label))
    else:
        for name, progress in summary.endpoints.items():
            rows.append(_row(name, progress, summary.eta_s(progress)))
    return ProgressSnapshot(
        planned=summary.planned,
        finished=summary.finished,
        full=summary.full,
        errors=summary.errors,
        eta_s=summary.eta_s(),
        endpoints=tuple(rows),
    )


def _row(
    name: str, progress: EndpointProgress, eta_s: float | None, shard: str | None = None
) -> EndpointRow:
    return EndpointRow(
        name=name,
        total=progress.total,
        done=progress.done,
        full=progress.full,
        errors=progress.errors,
        in_flight=progress.in_flight,
        limit=progress.limit,
        rate_limited=progress.rate_limited,
        retries=progress.retries,
        eta_s=eta_s,
        shard=shard,
    )


def combine(parts: Iterable[tuple[str, ProgressSnapshot]], started: float) -> ProgressSnapshot:
    """Several shards' snapshots as one, each endpoint row labelled with its shard."""
    rows: list[EndpointRow] = []
    planned = finished = full = errors = 0
    for shard, part in parts:
        planned += part.planned
        finished += part.finished
        full += part.full
        errors += part.errors
        rows += [EndpointRow(**{**asdict(row), "shard": shard}) for row in part.endpoints]
    ended = finished + errors
    elapsed = time.monotonic() - started
    eta = elapsed / ended * max(0, planned - ended) if ended else None
    return ProgressSnapshot(planned, finished, full, errors, eta, tuple(rows))
