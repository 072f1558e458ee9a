"""Runs and what produced them: the manifests a store keeps, newest first.

Every invocation writes one manifest through the store (run id, command line, version, git
revision, config and plan digests, host, times, counts, exit code). Listing runs is reading them
back; a record's ``run_id`` leads to its manifest. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from runbench.errors import UsageError
from runbench.storage import Store
from runbench.storage.liveness import ProcessIdentity

Manifest = dict[str, Any]  # raw JSON as the store returns it


@dataclass(frozen=True, slots=True)
class RunCounts:
    """How many tests the run planned, finished (judged), ended in error, and left unrun."""

    planned: int = 0
    finished: int = 0
    errors: int = 0
    not_run: int = 0


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run as ``runbench runs`` lists it; fields a manifest lacks stay ``None``."""

    run_id: str
    command: tuple[str, ...] = ()
    version: str | None = None
    git_revision: str | None = None
    config_digest: str | None = None
    plan_digest: str | None = None
    storage: str | None = None
    host: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    counts: RunCounts = field(default_factory=RunCounts)
    # how it ended: finished, interrupted, timed_out, failed (a store error; ``error`` says
    # which), crashed, or killed (never ended, its process on this host gone); None for a run
    # still going, on another host, or written before outcomes were kept
    outcome: str | None = None
    error: str | None = None

    @property
    def is_finished(self) -> bool:
        """A run without an end time is still writing, or was killed before it could finish."""
        return self.ended_at is not None

    @property
    def duration_s(self) -> float | None:
        start, end = _parse_time(self.started_at), _parse_time(self.ended_at)
        if start is None or end is None:
            return None
        return (end - start).total_seconds()

    @property
    def command_line(self) -> str:
        import shlex

        return shlex.join(self.command)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for ``runbench runs --json``: every field plus the derived ones."""
        values = asdict(self)
        values["command"] = list(self.command)
        values["duration_s"] = self.duration_s
        values["finished"] = self.is_finished
        return values


def run_info(manifest: Manifest) -> RunInfo:
    """A ``RunInfo`` from one manifest, tolerant of fields older writers did not set.

    Raises:
        ValueError: the manifest has no ``run_id`` (a store never writes one like that).
    """
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError("a manifest without run_id")
    counts = manifest.get("counts") or {}
    command = manifest.get("command") or ()
    return RunInfo(
        run_id=run_id,
        command=tuple(str(part) for part in command),
        version=_text(manifest.get("version", manifest.get("runbench_version"))),
        git_revision=_text(manifest.get("git_revision")),
        config_digest=_text(manifest.get("config_digest")),
        plan_digest=_text(manifest.get("plan_digest")),
        storage=_text(manifest.get("storage")),
        host=_text(manifest.get("host")),
        started_at=_text(manifest.get("started_at")),
        ended_at=_text(manifest.get("ended_at")),
        exit_code=manifest.get("exit_code"),
        counts=RunCounts(**{k: int(counts.get(k) or 0) for k in RunCounts.__dataclass_fields__}),
        outcome=_text(manifest.get("outcome")) or _killed(manifest),
        error=_text(manifest.get("error")),
    )


def _killed(manifest: Manifest) -> str | None:
    """``killed`` for a run that never ended and whose process, on this host, is gone.

    ``kill -9``, the OOM killer or a reboot end a run without a word; its manifest says who
    wrote it (``process``), so a run is "running" only while that process lives. A run on
    another host cannot be checked from here and stays as it reads.
    """
    raw = manifest.get("process")
    if manifest.get("ended_at") is not None or not isinstance(raw, dict):
        return None
    try:
        writer = ProcessIdentity(
            str(raw["host"]), str(raw["boot"]), int(raw["pid"]), str(raw["started"])
        )
    except (KeyError, TypeError, ValueError):
        return None
    here = ProcessIdentity.current()
    if writer.host != here.host:
        return None
    if not writer.shares_boot_with(here) or not writer.is_alive():
        return "killed"
    return None


def store_manifests(store: Store) -> list[Manifest]:
    """The store's run manifests, newest first."""
    return list(store.manifests())


def list_runs(store: Store) -> list[RunInfo]:
    """Every run the store knows, newest first (by start time, then as the store ordered them)."""
    runs = [run_info(manifest) for manifest in store_manifests(store)]
    order = {run.run_id: index for index, run in enumerate(runs)}
    return sorted(runs, key=lambda run: (run.started_at or "", -order[run.run_id]), reverse=True)


def find_run(store: Store, run_id_or_prefix: str) -> RunInfo:
    """The run a user-typed id (or unique prefix) names.

    Raises:
        UsageError: no run, or several runs, start with that text; the message lists candidates.
    """
    runs = list_runs(store)
    exact = [run for run in runs if run.run_id == run_id_or_prefix]
    matches = exact or [run for run in runs if run.run_id.startswith(run_id_or_prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(run.run_id for run in matches[:5])
        raise UsageError(
            f"run '{run_id_or_prefix}' is ambiguous: {shown}", hint="type more of the run id"
        )
    raise UsageError(
        f"no run '{run_id_or_prefix}' in this store",
        hint="runbench runs lists the runs this store holds",
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
