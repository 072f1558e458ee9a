"""One test, all of it: every attempt, the scores and their parts, and the saved transcript.

``runbench show TEST_ID`` answers "what did the model actually do here?". The test is named by
its id or any unique prefix of it, as git names commits. The attempt that counts (latest
non-error, results.py) is marked, so a reader never mistakes a superseded attempt for the result.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from runbench.analysis.runs import RunInfo, list_runs
from runbench.analysis.transcripts import read_transcript, transcript_messages
from runbench.errors import StoreError, UsageError
from runbench.records import ERROR_STATUS
from runbench.storage import Store

MIN_PREFIX = 4
ID_LENGTH = 32
IDENTITY = (
    "suite",
    "suite_version",
    "model",
    "prompt_type",
    "flaw_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "instance",
    "task_id",
)
SCORES = ("workflow_score", "phase2_score", "quality_score", "final_score")
DETAILS = (
    "turns",
    "tool_calls",
    "format_error_count",
    "api_retries",
    "tool_coverage_rate",
    "required_tools",
    "executed_tools",
    "prompt_tokens",
    "completion_tokens",
    "execution_time",
)


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One stored attempt of the test, as plain values."""

    attempt: int
    run_id: str
    recorded_at: str
    status: str
    provider: str
    deployment: str
    error_category: str | None
    error_message: str | None
    scores: dict[str, float | None]
    details: dict[str, Any]
    transcript_path: str | None
    counts: bool = False  # this is the attempt every statistic uses
    run: RunInfo | None = None  # the run's manifest, when the store has it

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "run_id": self.run_id,
            "recorded_at": self.recorded_at,
            "status": self.status,
            "provider": self.provider,
            "deployment": self.deployment,
            "error_category": self.error_category,
            "error_message": self.error_message,
            "scores": dict(self.scores),
            **self.details,
            "transcript": self.transcript_path,
            "counts": self.counts,
            "run": None if self.run is None else self.run.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class TestView:
    """A test's identity, its attempts (oldest first) and the newest saved transcript."""

    __test__ = False  # a name pytest would otherwise collect

    test_id: str
    identity: dict[str, Any]
    attempts: tuple[AttemptView, ...]
    transcript_attempt: int | None = None
    transcript: list[dict[str, Any]] | None = None
    transcript_problem: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_done(self) -> bool:
        return any(attempt.counts for attempt in self.attempts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            **self.identity,
            "done": self.is_done,
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "transcript_attempt": self.transcript_attempt,
            "transcript": self.transcript,
            "transcript_problem": self.transcript_problem,
        }


def resolve_test_id(store: Store, text: str) -> str:
    """The one stored test id that ``text`` is, or starts.

    Raises:
        UsageError: the prefix is too short, matches several tests (listed), or none (the
            closest ids are suggested).
    """
    return _resolved(store, text)[0]


def _resolved(store: Store, text: str) -> tuple[str, list[dict[str, Any]]]:
    """The test id ``text`` is or starts, and its rows, from one pass over the store.

    Each batch keeps only the rows whose id starts with the prefix (all columns, since they
    are shown); ids that do not match are kept just long enough to suggest the closest.

    Raises:
        UsageError: as ``resolve_test_id``.
    """
    import pyarrow.compute as pc

    wanted = text.strip().lower()
    if len(wanted) < MIN_PREFIX:
        raise UsageError(
            f"test id '{text}' is too short; give at least {MIN_PREFIX} characters",
            hint="runbench errors and runbench report --format json show test ids",
        )
    rows: list[dict[str, Any]] = []
    heads: set[str] = set()
    for table in store.scan_batches():
        ids = table.column("test_id")
        matching = pc.starts_with(ids, wanted)
        if pc.any(matching).as_py():
            rows.extend(table.filter(matching).to_pylist())
        elif not rows:
            heads.update(pc.unique(pc.utf8_slice_codeunits(ids, 0, len(wanted))).to_pylist())
    matches = sorted({str(row["test_id"]) for row in rows})
    if wanted in matches:
        return wanted, [row for row in rows if row["test_id"] == wanted]
    if len(matches) == 1:
        return matches[0], rows
    if matches:
        shown = ", ".join(matches[:5]) + (
            f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        )
        raise UsageError(f"test id '{text}' is ambiguous: {shown}", hint="type more of the id")
    close = difflib.get_close_matches(wanted, sorted(heads), n=3, cutoff=0.6)
    more = "…" if len(wanted) < ID_LENGTH else ""
    suggestion = f"; closest: {', '.join(head + more for head in sorted(close))}" if close else ""
    raise UsageError(
        f"no test '{text}' in this store{suggestion}",
        hint="check --store and --storage: the test may be in the other format",
    )


def show_test(store: Store, test_id_or_prefix: str) -> TestView:
    """Everything stored about one test, read in one pass over the store.

    Raises:
        UsageError: the id or prefix names no test, or several (see ``resolve_test_id``).
    """
    test_id, rows = _resolved(store, test_id_or_prefix)
    rows.sort(key=lambda row: (row["attempt"], row["recorded_at"]))
    judged = [row for row in rows if row["status"] != ERROR_STATUS]
    counting = judged[-1] if judged else None
    runs = {run.run_id: run for run in list_runs(store)}
    attempts = tuple(_attempt(row, row is counting, runs.get(row["run_id"])) for row in rows)
    transcript = None
    transcript_attempt = None
    problem = None
    saved = [row for row in rows if row.get("transcript")]
    if saved:
        newest = saved[-1]
        transcript_attempt = int(newest["attempt"])
        try:
            transcript = transcript_messages(read_transcript(store, newest["transcript"]))
        except StoreError as error:
            problem = error.message
    first = rows[-1]
    return TestView(
        test_id=test_id,
        identity={name: first.get(name) for name in IDENTITY},
        attempts=attempts,
        transcript_attempt=transcript_attempt,
        transcript=transcript,
        transcript_problem=problem,
    )


def _attempt(row: dict[str, Any], counts: bool, run: RunInfo | None) -> AttemptView:
    details = {name: row.get(name) for name in DETAILS}
    return AttemptView(
        attempt=int(row["attempt"]),
        run_id=str(row["run_id"]),
        recorded_at=row["recorded_at"].isoformat(),
        status=str(row["status"]),
        provider=str(row.get("provider")),
        deployment=str(row.get("deployment")),
        error_category=row.get("error_category"),
        error_message=row.get("error_message"),
        scores={name: row.get(name) for name in SCORES},
        details=details,
        transcript_path=row.get("transcript"),
        counts=counts,
        run=run,
    )


def message_text(message: dict[str, Any]) -> str:
    """A transcript message as plain text: its content, then any other fields as JSON."""
    body = message.get("content")
    extra = {key: value for key, value in message.items() if key not in ("role", "content")}
    text = body if isinstance(body, str) else _json(body)
    if extra:
        text = f"{text}\n{_json(extra)}" if text else _json(extra)
    return text or ""


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=1, default=str)
