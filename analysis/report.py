"""Result tables computed from rows: each test counted once, infrastructure errors kept apart.

A test's result is its latest non-error attempt (DESIGN.md §4). Attempts it supersedes and rows
whose status is ``error`` (the infrastructure failed; the model was never judged) are counted in
their own columns and never enter a rate's numerator or denominator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runbench.analysis.results import latest_results
from runbench.storage import Filters, Store

from runbench.errors import UsageError

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
_COLUMNS = tuple(
    dict.fromkeys(
        ("test_id", "attempt", "recorded_at", "status", "workflow_score", "final_score", *GROUPABLE)
    )
)
_Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One row of a report: a group's counts, rates with 95 % Wilson intervals, and means."""

    group: tuple[str, ...]
    tests: int
    full: int
    partial: int
    failure: int
    full_rate: float
    full_interval: Interval
    partial_rate: float
    failure_rate: float
    weighted_success: float
    mean_workflow_score: float | None
    mean_final_score: float | None
    infra_errors: int
    superseded_attempts: int


@dataclass(frozen=True, slots=True)
class Report:
    by: tuple[str, ...]
    groups: tuple[GroupResult, ...]


def wilson_interval(successes: int, trials: int, z: float = _Z95) -> Interval:
    """The Wilson score interval: honest at small n and at rates near 0 or 1."""
    if trials == 0:
        return Interval(0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - margin)
    high = 1.0 if successes == trials else min(1.0, centre + margin)
    return Interval(low, high)


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


def build_report(
    store: Store,
    by: Sequence[str] = ("model", "prompt_type"),
    *,
    filters: Filters | None = None,
    suite: str | None = None,
) -> Report:
    """Group the store's results; ``suite=None`` leaves legacy suites out, ``"all"`` keeps them."""
    frame = store.scan(list(_COLUMNS), filters).to_pandas()
    if suite is None:
        frame = frame[~frame["suite"].isin(LEGACY_SUITES)]
    elif suite != "all":
        frame = frame[frame["suite"] == suite]
    return Report(tuple(by), tuple(_group_results(frame, list(by))))


def _group_results(frame: pd.DataFrame, by: list[str]) -> list[GroupResult]:
    errors = frame[frame["status"] == "error"]
    latest = latest_results(frame)
    superseded = frame[frame["status"] != "error"].drop(latest.index)
    results = []
    keys = sorted(set(frame[by].itertuples(index=False, name=None)))
    latest_groups = (
        {_as_tuple(k): rows for k, rows in latest.groupby(by, sort=False)} if len(latest) else {}
    )
    error_counts = _counts(errors, by)
    superseded_counts = _counts(superseded, by)
    for key in keys:
        rows = latest_groups.get(key, latest.iloc[0:0])
        tests = len(rows)
        full = int((rows["status"] == "full_success").sum())
        partial = int((rows["status"] == "partial_success").sum())
        failure = tests - full - partial
        results.append(
            GroupResult(
                group=tuple(str(part) for part in key),
                tests=tests,
                full=full,
                partial=partial,
                failure=failure,
                full_rate=full / tests if tests else 0.0,
                full_interval=wilson_interval(full, tests),
                partial_rate=partial / tests if tests else 0.0,
                failure_rate=failure / tests if tests else 0.0,
                weighted_success=(full + 0.5 * partial) / tests if tests else 0.0,
                mean_workflow_score=_mean(rows["workflow_score"]),
                mean_final_score=_mean(rows["final_score"]),
                infra_errors=error_counts.get(key, 0),
                superseded_attempts=superseded_counts.get(key, 0),
            )
        )
    return results


def _as_tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def _counts(frame: pd.DataFrame, by: list[str]) -> dict[tuple[object, ...], int]:
    if frame.empty:
        return {}
    sizes = frame.groupby(by, sort=False).size()
    return {_as_tuple(k): int(v) for k, v in sizes.items()}


def _mean(series: pd.Series) -> float | None:
    value = series.mean()
    return None if value != value else float(value)  # NaN when every score is null
