"""Result tables computed from rows: each test counted once, infrastructure errors kept apart.

A test's result is its latest non-error attempt (DESIGN.md §4). Attempts it supersedes and rows
whose status is ``error`` (the infrastructure failed; the model was never judged) are counted in
their own columns and never enter a rate's numerator or denominator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runbench.analysis.results import latest_results
from runbench.analysis.stats import Interval, wilson_interval
from runbench.storage import Filters, Store

from runbench.errors import UsageError
from runbench.records import MODEL_ERROR_CATEGORIES

if TYPE_CHECKING:
    import pandas as pd

GROUPABLE = (
    "model",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "provider",
    "deployment",
    "suite",
)
LEGACY_SUITES = ("legacy-v3",)
ALL_SUITES = "all"
_MEASURES = (
    "workflow_score",
    "phase2_score",
    "final_score",
    "turns",
    "tool_calls",
    "tool_coverage_rate",
)
_COLUMNS = tuple(
    dict.fromkeys(
        (
            "test_id",
            "attempt",
            "recorded_at",
            "status",
            "error_category",
            "instance",
            "suite_version",
            "execution_time",
            "quality_score",
            *_MEASURES,
            *GROUPABLE,
        )
    )
)


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One row of a report: a group's counts, rates with 95 % Wilson intervals, and means.

    Rates are shares of ``tests`` (unique tests judged: latest non-error attempt). ``infra_errors``
    counts error rows and ``superseded_attempts`` older judged attempts; neither is in a rate.
    """

    group: tuple[str, ...]
    tests: int
    full: int
    partial: int
    failure: int
    full_rate: float
    full_interval: Interval
    partial_rate: float
    partial_interval: Interval
    failure_rate: float
    failure_interval: Interval
    weighted_success: float
    mean_workflow_score: float | None
    mean_phase2_score: float | None
    mean_final_score: float | None
    mean_turns: float | None
    mean_tool_calls: float | None
    mean_tool_coverage: float | None
    error_shares: dict[str, float] = field(default_factory=dict)
    infra_errors: int = 0
    superseded_attempts: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    by: tuple[str, ...]
    groups: tuple[GroupResult, ...]


def parse_group_by(text: str) -> tuple[str, ...]:
    """Parse ``--by model,prompt_type``.

    Raises:
        UsageError: a name is not groupable; the message lists the allowed names.
    """
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in GROUPABLE]
    if unknown or not names:
        shown = unknown[0] if unknown else text
        raise UsageError(f"cannot group by '{shown}'; choose from {', '.join(GROUPABLE)}")
    return names


def load_frame(store: Store, filters: Filters | None, suite: str | None) -> pd.DataFrame:
    """The rows a report reads; ``suite=None`` leaves legacy imports out, ``"all"`` keeps them."""
    frame = store.scan(list(_COLUMNS), filters).to_pandas()
    if suite is None:
        return frame[~frame["suite"].isin(LEGACY_SUITES)]
    if suite != ALL_SUITES:
        return frame[frame["suite"] == suite]
    return frame


def build_report(
    store: Store,
    by: Sequence[str] = ("model", "prompt_type"),
    *,
    filters: Filters | None = None,
    suite: str | None = None,
) -> Report:
    """Group the store's results by ``by``."""
    return report_from_frame(load_frame(store, filters, suite), by)


def report_from_frame(frame: pd.DataFrame, by: Sequence[str]) -> Report:
    """The report of rows already loaded (shared by the CLI, HTML pages and tests)."""
    by = list(by)
    latest = latest_results(frame)
    judged = frame[frame["status"] != "error"]
    errors = _counts(frame[frame["status"] == "error"], by)
    superseded = _counts(judged.drop(latest.index), by)
    groups = (
        {_as_tuple(key): rows for key, rows in latest.groupby(by, sort=False)}
        if len(latest)
        else {}
    )
    keys = sorted(
        set(frame[by].itertuples(index=False, name=None)), key=lambda k: tuple(map(str, k))
    )
    empty = latest.iloc[0:0]
    return Report(
        tuple(by),
        tuple(
            _group_result(key, groups.get(key, empty), errors.get(key, 0), superseded.get(key, 0))
            for key in keys
        ),
    )


def _group_result(
    key: tuple[object, ...], rows: pd.DataFrame, infra: int, superseded: int
) -> GroupResult:
    tests = len(rows)
    status = rows["status"]
    full = int((status == "full_success").sum())
    partial = int((status == "partial_success").sum())
    failure = tests - full - partial
    categories = rows.loc[status != "full_success", "error_category"].value_counts()
    shares = {
        name: int(categories.get(name, 0)) / tests
        for name in MODEL_ERROR_CATEGORIES
        if tests and categories.get(name, 0)
    }
    return GroupResult(
        group=tuple(_label(part) for part in key),
        tests=tests,
        full=full,
        partial=partial,
        failure=failure,
        full_rate=_share(full, tests),
        full_interval=wilson_interval(full, tests),
        partial_rate=_share(partial, tests),
        partial_interval=wilson_interval(partial, tests),
        failure_rate=_share(failure, tests),
        failure_interval=wilson_interval(failure, tests),
        weighted_success=_share(full + 0.5 * partial, tests),
        mean_workflow_score=_mean(rows["workflow_score"]),
        mean_phase2_score=_mean(rows["phase2_score"]),
        mean_final_score=_mean(rows["final_score"]),
        mean_turns=_mean(rows["turns"]),
        mean_tool_calls=_mean(rows["tool_calls"]),
        mean_tool_coverage=_mean(rows["tool_coverage_rate"]),
        error_shares=shares,
        infra_errors=infra,
        superseded_attempts=superseded,
    )


def _label(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _share(count: float, total: int) -> float:
    return count / total if total else 0.0


def _as_tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def _counts(frame: pd.DataFrame, by: list[str]) -> dict[tuple[object, ...], int]:
    if frame.empty:
        return {}
    sizes = frame.groupby(by, sort=False).size()
    return {_as_tuple(k): int(v) for k, v in sizes.items()}


def _mean(series: pd.Series) -> float | None:
    value = series.mean()
    return None if value != value else float(value)  # NaN when every value is null
