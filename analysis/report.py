"""Result tables computed from rows: each test counted once, infrastructure errors kept apart.

A test's result is its latest non-error attempt (results.py). Attempts it supersedes and rows
whose status is ``error`` (the infrastructure failed; the model was never judged) are counted in
their own columns and never enter a rate's numerator or denominator.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbench.analysis.cost import Prices, Spend, group_spend
from runbench.analysis.results import latest_masks
from runbench.analysis.stats import Interval, wilson_interval
from runbench.errors import UsageError
from runbench.plan import SETTINGS_COLUMNS
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.storage import Filters, Store
from runbench.storage.parquet_since import FREE_TEXT

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

GROUPABLE = (
    "model",
    "prompt_type",
    "difficulty",
    "task_type",
    "tool_success_rate",
    "provider",
    "deployment",
    "suite",
    "suite_version",
    *SETTINGS_COLUMNS,
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
_LATEST_COLUMNS = ("test_id", "attempt", "recorded_at", "status", "suite")
_TOKENS = ("prompt_tokens", "completion_tokens")


def report_columns(by: Sequence[str]) -> list[str]:
    """The columns a report reads: the grouping, what picks the latest attempt, what it counts."""
    return list(
        dict.fromkeys([*by, *_LATEST_COLUMNS, "model", "error_category", *_MEASURES, *_TOKENS])
    )


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One row of a report: a group's counts, rates with 95 % Wilson intervals, and means.

    Rates are shares of ``tests`` (unique tests judged: latest non-error attempt). ``infra_errors``
    counts error rows and ``superseded_attempts`` older judged attempts; neither is in a rate.
    A group with no judged test has no rate at all (``None``, "no data"): 0 % would claim
    the model failed tests it was never judged on.

    Tokens add up every stored attempt of the group, errors and superseded ones included,
    because each was paid for; ``cost_usd`` is their price when every model in the group has
    prices in runbench.toml, else ``None``.
    """

    group: tuple[str, ...]
    tests: int
    full: int
    partial: int
    failure: int
    full_rate: float | None
    full_interval: Interval | None
    partial_rate: float | None
    partial_interval: Interval | None
    failure_rate: float | None
    failure_interval: Interval | None
    weighted_success: float | None
    mean_workflow_score: float | None
    mean_phase2_score: float | None
    mean_final_score: float | None
    mean_turns: float | None
    mean_tool_calls: float | None
    mean_tool_coverage: float | None
    error_shares: dict[str, float] = field(default_factory=dict)
    infra_errors: int = 0
    superseded_attempts: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def has_data(self) -> bool:
        return self.tests > 0

    @property
    def error_counts(self) -> dict[str, int]:
        """Tests of each model-side error category (the shares times ``tests``)."""
        return {name: round(share * self.tests) for name, share in self.error_shares.items()}


@dataclass(frozen=True, slots=True)
class Report:
    by: tuple[str, ...]
    groups: tuple[GroupResult, ...]

    @property
    def infra_errors(self) -> int:
        return sum(group.infra_errors for group in self.groups)

    @property
    def superseded_attempts(self) -> int:
        return sum(group.superseded_attempts for group in self.groups)


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


def load_frame(
    store: Store, filters: Filters | None, suite: str | None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows to analyse; ``suite=None`` leaves legacy imports out, ``"all"`` keeps them.

    ``columns`` defaults to every field; asking for fewer keeps a million-row read light.
    """
    wanted = None if columns is None else list(dict.fromkeys([*columns, *_LATEST_COLUMNS]))
    return frame_of(store.scan(wanted, filters), suite)


def frame_of(table: pa.Table, suite: str | None) -> pd.DataFrame:
    """Rows already read, as ``load_frame`` returns them (for readers that share one read)."""
    frame = categorical(table).to_pandas()
    if suite is None:
        return frame[~frame["suite"].isin(LEGACY_SUITES)]
    if suite != ALL_SUITES:
        return frame[frame["suite"] == suite]
    return frame


def checked_frame(
    store: Store, filters: Filters | None, suite: str | None, columns: Sequence[str]
) -> pd.DataFrame:
    """``load_frame``, then the names in ``filters`` and ``suite`` checked against its rows.

    Raises:
        UsageError: the suite or a filtered model matches no stored row (``matching``).
    """
    from runbench.analysis.matching import require_read

    frame = load_frame(store, filters, suite, list(dict.fromkeys([*columns, "model"])))
    wanted = (filters or {}).get("model", ())
    listed = wanted if isinstance(wanted, list | tuple) else [wanted]
    models = [str(name) for name in listed]
    require_read(store, frame["model"].unique(), len(frame), models, suite)
    return frame


def categorical(table: pa.Table) -> pa.Table:
    """Dictionary-encode the low-cardinality text columns (status, model, prompt type, …).

    pandas then compares and groups them by small integer codes instead of a million strings,
    which makes a million-row report several times faster. Columns already encoded (the
    viewer encodes its rows once, as they are read) are kept as they are.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(column.type) and name not in FREE_TEXT:
            column = pc.dictionary_encode(column.combine_chunks())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def build_report(
    store: Store,
    by: Sequence[str] = ("model", "prompt_type"),
    *,
    filters: Filters | None = None,
    suite: str | None = None,
) -> Report:
    """Group the store's results by ``by``."""
    return report_from_frame(load_frame(store, filters, suite, report_columns(by)), by)


def report_from_frame(
    frame: pd.DataFrame,
    by: Sequence[str],
    prices: Prices | None = None,
    repeated: Collection[str] | None = None,
) -> Report:
    """The report of rows already loaded (shared by the CLI, HTML pages and tests).

    Aggregates with a few vectorised group-bys: a million rows take well under a second.
    ``prices`` (model → price, from ``prices_of_config``) adds a cost to each group; frames
    read without the token columns get ``None`` tokens. ``repeated`` (the test ids with more
    than one row, when the caller keeps them) spares ``latest_results`` a hash of every id.
    """
    by = list(by)
    frame = _settings_labelled(
        frame[[name for name in report_columns(by) if name in frame.columns]], by
    )
    judged, is_latest = latest_masks(frame, repeated)
    latest = frame.loc[is_latest, [*by, "status", "error_category", *_MEASURES]]
    errors = _counts(frame.loc[~judged, by], by)
    # every judged row is a latest one unless some test was judged more than once
    older = judged & ~is_latest
    superseded = _counts(frame.loc[older, by], by) if older.any() else {}
    statuses = _crosstab(latest, by, "status")
    categories = _crosstab(latest[latest["status"] != "full_success"], by, "error_category")
    means = (
        latest.groupby(by, sort=False, dropna=False)[list(_MEASURES)].mean()
        if len(latest)
        else None
    )
    spend = group_spend(frame, by, prices)
    distinct = frame[by].drop_duplicates().itertuples(index=False, name=None)
    keys = sorted(distinct, key=lambda k: tuple(map(str, k)))
    return Report(
        tuple(by),
        tuple(
            _group_result(
                key,
                statuses.get(key, {}),
                categories.get(key, {}),
                _row(means, key),
                errors.get(key, 0),
                superseded.get(key, 0),
                spend.get(key, Spend()),
            )
            for key in keys
        ),
    )


def _settings_labelled(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Null settings (the provider's default; rows older than the columns) as a label.

    pandas group-bys drop null keys, so such rows would vanish from a report by temperature;
    an old row's null protocol is the default, ``tags``, as its test id says.
    """
    import pandas as pd

    names = [name for name in by if name in SETTINGS_COLUMNS]
    if not names:
        return frame
    frame = frame.copy()
    for name in names:
        default = "tags" if name == "protocol" else "default"
        labels: list[object] = [
            default if value is None or value != value else _setting_value(name, value)
            for value in frame[name].astype(object)
        ]
        frame[name] = pd.Series(labels, index=frame.index, dtype=object)
    return frame


def _setting_value(name: str, value: object) -> object:
    if name in ("max_tokens", "seed"):
        return int(value)  # type: ignore[call-overload]
    return value


def _crosstab(
    frame: pd.DataFrame, by: list[str], column: str
) -> dict[tuple[object, ...], dict[str, int]]:
    if frame.empty:
        return {}
    counts = frame.groupby([*by, column], sort=False, dropna=True).size()
    table: dict[tuple[object, ...], dict[str, int]] = {}
    for key, count in counts.items():
        *group, value = key if isinstance(key, tuple) else (key,)
        table.setdefault(tuple(group), {})[str(value)] = int(count)
    return table


def _row(means: pd.DataFrame | None, key: tuple[object, ...]) -> dict[str, float | None]:
    if means is None:
        return {}
    label: Any = key if len(key) > 1 else key[0]  # a one-field index is keyed by the value
    try:
        row = means.loc[label]
    except KeyError:
        return {}
    return {name: None if value != value else float(value) for name, value in row.items()}


def _group_result(
    key: tuple[object, ...],
    statuses: dict[str, int],
    categories: dict[str, int],
    means: dict[str, float | None],
    infra: int,
    superseded: int,
    spend: Spend,
) -> GroupResult:
    full = statuses.get("full_success", 0)
    partial = statuses.get("partial_success", 0)
    failure = statuses.get("failure", 0)
    tests = full + partial + failure
    return GroupResult(
        group=tuple(_label(part) for part in key),
        tests=tests,
        full=full,
        partial=partial,
        failure=failure,
        full_rate=_share(full, tests),
        full_interval=wilson_interval(full, tests) if tests else None,
        partial_rate=_share(partial, tests),
        partial_interval=wilson_interval(partial, tests) if tests else None,
        failure_rate=_share(failure, tests),
        failure_interval=wilson_interval(failure, tests) if tests else None,
        weighted_success=_share(full + 0.5 * partial, tests),
        mean_workflow_score=means.get("workflow_score"),
        mean_phase2_score=means.get("phase2_score"),
        mean_final_score=means.get("final_score"),
        mean_turns=means.get("turns"),
        mean_tool_calls=means.get("tool_calls"),
        mean_tool_coverage=means.get("tool_coverage_rate"),
        error_shares={
            name: categories[name] / tests
            for name in MODEL_ERROR_CATEGORIES
            if tests and categories.get(name)
        },
        infra_errors=infra,
        superseded_attempts=superseded,
        prompt_tokens=spend.prompt_tokens,
        completion_tokens=spend.completion_tokens,
        cost_usd=spend.cost_usd,
    )


def _label(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _share(count: float, total: int) -> float | None:
    return count / total if total else None


def _as_tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def _counts(frame: pd.DataFrame, by: list[str]) -> dict[tuple[object, ...], int]:
    if frame.empty:
        return {}
    sizes = frame.groupby(by, sort=False).size()
    return {_as_tuple(k): int(v) for k, v in sizes.items()}


def legacy_leaves_for(
    store: Store, suite: str | None, models: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """The legacy leaf table to show under a report, when the report selects legacy imports.

    ``report --suite legacy-v3`` (or ``all``) prints it after the per-test table: the tests of
    each imported leaf and the averages the V3 file kept for it (``legacy_leaves.LEAF_COLUMNS``).
    None when the suite leaves legacy rows out or nothing was imported.
    """
    from runbench.analysis.legacy_leaves import legacy_leaf_table

    if suite is None or (suite != ALL_SUITES and suite not in LEGACY_SUITES):
        return None
    table = legacy_leaf_table(store, models=models)
    return None if table.empty else table
