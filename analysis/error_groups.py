"""Why tests failed: error rows grouped by endpoint, category and message.

"94 errors" helps nobody; "DeepSeek-V3-0324-2 rate_limited: 429 after 6 attempts (61×)" does.
Infrastructure errors (status ``error``) are what this is for; the model-side categories of
judged tests are kept out, because they are results, not reasons a run went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbench.records import ERROR_STATUS
from runbench.storage import Filters, Store

if TYPE_CHECKING:
    import pyarrow as pa

EXAMPLES_KEPT = 3
COLUMNS = [  # what grouping needs of an error row
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
    return groups_of_rows(store.scan(COLUMNS, error_filters(run_id, model)).to_pylist())


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


_KEY = ("provider", "deployment", "category", "message")


def groups_of_table(table: pa.Table) -> list[ErrorGroup]:
    """``groups_of_rows`` of a table's rows, computed in Arrow (the viewer's million rows).

    The same groups, in the same order, with the same examples (each group's first distinct
    test ids by time, ties in row order) as ``groups_of_rows(table.to_pylist())``, without
    turning every error row into Python objects.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    errors = table.filter(pc.equal(table.column("status"), pa.scalar(ERROR_STATUS)))
    if errors.num_rows == 0:
        return []
    keyed = pa.table(
        {
            "provider": _labelled(errors.column("provider"), "?"),
            "deployment": _labelled(errors.column("deployment"), "?"),
            "category": _labelled(errors.column("error_category"), "unknown"),
            "message": _labelled(errors.column("error_message"), "(no message)"),
            "recorded_at": errors.column("recorded_at"),
            "model": pc.cast(errors.column("model"), pa.string()),
            "test_id": errors.column("test_id"),
        }
    )
    keyed = keyed.take(pc.sort_indices(keyed, [("recorded_at", "ascending")]))  # stable
    keyed = keyed.append_column("order", pa.array(range(keyed.num_rows), pa.int64()))
    summary = keyed.group_by(list(_KEY), use_threads=False).aggregate(
        [("order", "count"), ("recorded_at", "min"), ("recorded_at", "max"), ("model", "distinct")]
    )
    examples = _first_tests(keyed)
    groups = [
        ErrorGroup(
            provider=row["provider"],
            deployment=row["deployment"],
            category=row["category"],
            message=row["message"],
            count=row["order_count"],
            first_seen=row["recorded_at_min"].isoformat(),
            last_seen=row["recorded_at_max"].isoformat(),
            models=tuple(sorted(str(model) for model in row["model_distinct"])),
            example_test_ids=tuple(examples[tuple(row[name] for name in _KEY)]),
        )
        for row in summary.to_pylist()
    ]
    groups.sort(key=lambda group: group.last_seen, reverse=True)
    return sorted(groups, key=lambda group: (-group.count, group.provider, group.deployment))


def _labelled(column: Any, default: str) -> Any:
    """Text with null and empty values replaced by ``default`` (``str(value or default)``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string())
    present = pc.fill_null(pc.not_equal(text, pa.scalar("")), False)
    return pc.if_else(present, text, pa.scalar(default))


def _first_tests(keyed: pa.Table) -> dict[tuple[str, ...], list[str]]:
    """Each group's first ``EXAMPLES_KEPT`` distinct test ids, in the rows' ``order``."""
    import pyarrow.compute as pc

    firsts = keyed.group_by([*_KEY, "test_id"], use_threads=False).aggregate([("order", "min")])
    picked_rows: list[dict[str, Any]] = []
    for _ in range(EXAMPLES_KEPT):
        if firsts.num_rows == 0:
            break
        earliest = firsts.group_by(list(_KEY), use_threads=False).aggregate([("order_min", "min")])
        picked = pc.is_in(firsts.column("order_min"), value_set=earliest.column("order_min_min"))
        picked_rows.extend(firsts.filter(picked).to_pylist())
        firsts = firsts.filter(pc.invert(picked))
    examples: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for row in picked_rows:
        key = tuple(row[name] for name in _KEY)
        examples.setdefault(key, []).append((row["order_min"], row["test_id"]))
    return {key: [test_id for _, test_id in sorted(found)] for key, found in examples.items()}


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
