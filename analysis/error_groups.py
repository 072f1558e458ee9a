"""Why tests failed: error rows grouped by endpoint, category and message.

"94 errors" helps nobody; "DeepSeek-V3-0324-2 rate_limited: 429 after 6 attempts (61×)" does.
Infrastructure errors (status ``error``) are what this is for; the model-side categories of
judged tests are kept out, because they are results, not reasons a run went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runbench.records import ERROR_STATUS
from runbench.storage import Filters, Store

EXAMPLES_KEPT = 3
_COLUMNS = [
    "test_id",
    "run_id",
    "model",
    "provider",
    "deployment",
    "status",
    "error_category",
    "error_message",
    "recorded_at",
]


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Error rows that share endpoint, category and message; ``count`` rows in all."""

    provider: str
    deployment: str
    category: str
    message: str
    count: int
    first_seen: str
    last_seen: str
    models: tuple[str, ...]
    example_test_ids: tuple[str, ...]

    @property
    def endpoint(self) -> str:
        return f"{self.provider}/{self.deployment}"

    def describe(self) -> str:
        """One line for the end-of-run summary: count, endpoint, category, message, last seen."""
        times = "" if self.count == 1 else f", {self.first_seen[11:19]}–{self.last_seen[11:19]}"
        return f"{self.count}× {self.endpoint} {self.category}: {self.message}{times}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "provider": self.provider,
            "deployment": self.deployment,
            "category": self.category,
            "message": self.message,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "models": list(self.models),
            "example_test_ids": list(self.example_test_ids),
        }


def error_groups(
    store: Store, run_id: str | None = None, model: str | list[str] | None = None
) -> list[ErrorGroup]:
    """Error rows of the store (optionally of one run and/or model), largest group first.

    Ties keep endpoints together and put the most recent first, so the top lines of an
    end-of-run summary are the reasons that matter now.
    """
    return groups_of_rows(store.scan(_COLUMNS, error_filters(run_id, model)).to_pylist())


def groups_of_rows(rows: list[dict[str, Any]]) -> list[ErrorGroup]:
    """Group already-read error rows (the viewer and the end-of-run summary share this)."""
    buckets: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("status") != ERROR_STATUS:
            continue
        key = (
            str(row.get("provider") or "?"),
            str(row.get("deployment") or "?"),
            str(row.get("error_category") or "unknown"),
            str(row.get("error_message") or "(no message)"),
        )
        buckets.setdefault(key, []).append(row)
    groups = []
    for (provider, deployment, category, message), members in buckets.items():
        members.sort(key=lambda row: row["recorded_at"])
        examples = list(dict.fromkeys(row["test_id"] for row in members))[:EXAMPLES_KEPT]
        groups.append(
            ErrorGroup(
                provider=provider,
                deployment=deployment,
                category=category,
                message=message,
                count=len(members),
                first_seen=members[0]["recorded_at"].isoformat(),
                last_seen=members[-1]["recorded_at"].isoformat(),
                models=tuple(sorted({str(row["model"]) for row in members})),
                example_test_ids=tuple(examples),
            )
        )
    groups.sort(key=lambda group: group.last_seen, reverse=True)
    return sorted(groups, key=lambda group: (-group.count, group.provider, group.deployment))


def top_reasons(groups: list[ErrorGroup], per_endpoint: int = 3) -> dict[str, list[ErrorGroup]]:
    """The largest few groups of each endpoint, for the lines printed at the end of a run."""
    chosen: dict[str, list[ErrorGroup]] = {}
    for group in groups:
        kept = chosen.setdefault(group.endpoint, [])
        if len(kept) < per_endpoint:
            kept.append(group)
    return chosen


def error_filters(run_id: str | None, model: str | list[str] | None) -> Filters:
    """The store filters ``error_groups`` applies, for callers that read rows themselves."""
    filters: dict[str, Any] = {"status": ERROR_STATUS}
    if run_id is not None:
        filters["run_id"] = run_id
    if model is not None:
        filters["model"] = model
    return filters
