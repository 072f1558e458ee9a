"""The report of rows held in Arrow, aggregated in Arrow: no million-row pandas frame.

``report_from_frame`` turns every row into pandas and copies the rows that count before it
groups them; at a million rows that conversion and those copies (fresh memory, page by page)
are most of a viewer page's time. Here the same counts, means and tokens are Arrow group-bys
over the held table, and only the few rows of tests judged more than once (``repeated``) go
through pandas to pick their latest attempt, by the same rule (``results._latest_index``). The
result is the same ``Report``: ``tests/analysis/test_report_arrow.py`` holds the two equal.

Only groupings by fields that are never null take this path (null keys and the labelling of
null settings are pandas' business); ``report_of_rows`` sends the others to
``report_from_frame``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from runbench.analysis.cost import Prices, Spend, _prices_per_row
from runbench.analysis.report import (
    _MEASURES,
    ALL_SUITES,
    Report,
    _group_result,
    frame_of,
    report_columns,
    report_from_frame,
)
from runbench.records import ERROR_STATUS

if TYPE_CHECKING:
    import pyarrow as pa

# fields a report groups by that a stored row always has (no null key to label)
ARROW_GROUPABLE = frozenset(
    {"model", "prompt_type", "difficulty", "task_type", "tool_success_rate", "suite"}
)
_PER_MILLION = 1_000_000.0
Key = tuple[object, ...]


def report_of_rows(
    rows: pa.Table,
    by: Sequence[str],
    prices: Prices | None = None,
    repeated: Collection[str] | None = None,
) -> Report:
    """The report of ``rows`` (already filtered), in Arrow when it can be, else in pandas.

    ``repeated`` holds every test id with more than one row (``viewer.rows``); without it, for
    a grouping ``ARROW_GROUPABLE`` does not cover, or for measures ``_exact`` cannot sum
    exactly, the rows go through pandas.
    """
    by = list(by)
    report = None
    if (
        repeated is not None
        and set(by) <= ARROW_GROUPABLE
        and all(rows.column(name).null_count == 0 for name in by)
    ):
        report = _arrow_report(rows.select(report_columns(by)), by, prices, repeated)
    if report is None:
        frame = frame_of(rows.select(report_columns(by)), ALL_SUITES)
        report = report_from_frame(frame, by, prices, repeated)
    return report


def _arrow_report(
    table: pa.Table, by: list[str], prices: Prices | None, repeated: Collection[str]
) -> Report | None:
    """The report from one Arrow group-by of every row, added up in Python.

    Rows are grouped by the grouping, status, error category and kind (a test's latest judged
    row, an older judged one, an error row); every count, mean and token sum is then a sum over
    those few thousand groups, and no row is copied to filter it. ``None`` when a measure
    cannot be summed exactly (``_exact``).
    """
    import numpy as np
    import pyarrow as pa

    # parts read apart each bring their own dictionaries; a group-by needs one per column
    keyed = table.select([*by, "status", "error_category"]).unify_dictionaries()
    judged = ~_equal(keyed.column("status"), ERROR_STATUS)
    latest = _latest_of(table, judged, repeated)
    kind = np.where(latest, _LATEST, np.where(judged, _OLDER, _ERROR)).astype(np.int8)
    scales: dict[str, int] = {}
    measured = []
    for name in _MEASURES:
        exact = _exact(table.column(name))
        if exact is None:
            return None
        measured.append(exact[0])
        scales[name] = exact[1]
    columns = [*keyed.columns, pa.array(kind), *measured]
    names = [*keyed.column_names, "kind", *_MEASURES]
    aggregations: list[Any] = [([], "count_all")]
    aggregations += [(name, "sum") for name in _MEASURES]
    aggregations += [(name, "count") for name in _MEASURES]
    aggregations += [(name, "sum") for name in _TOKENS]
    columns += [table.column(name) for name in _TOKENS]
    names += list(_TOKENS)
    if prices:
        cost, unpriced = _costs(table, prices)
        exact_cost = _exact(pa.chunked_array([cost]))
        if exact_cost is None:
            return None
        columns += [exact_cost[0], pa.array(unpriced)]
        scales["cost"] = exact_cost[1]
        names += ["cost", "unpriced"]
        aggregations += [("cost", "sum"), ("unpriced", "any")]
    grouped = (
        pa.table(columns, names=names)
        .group_by([*by, "status", "error_category", "kind"])
        .aggregate(aggregations)
    )
    totals = _Totals(scales)
    for row in grouped.to_pylist():
        totals.add(tuple(row[name] for name in by), row, priced=bool(prices))
    keys = sorted(totals.keys, key=lambda k: tuple(map(str, k)))
    return Report(
        tuple(by),
        tuple(
            _group_result(
                key,
                totals.statuses.get(key, {}),
                totals.categories.get(key, {}),
                totals.means(key),
                totals.errors.get(key, 0),
                totals.superseded.get(key, 0),
                totals.spend(key),
            )
            for key in keys
        ),
    )


_LATEST, _OLDER, _ERROR = 0, 1, 2
_TOKENS = ("prompt_tokens", "completion_tokens")


class _Totals:
    """The report's numbers per group, added up from the group-by's rows."""

    def __init__(self, scales: dict[str, int]) -> None:
        self._scales = scales  # each summed float column's integer units per 1 (``_exact``)
        self.keys: dict[Key, None] = {}
        self.statuses: dict[Key, dict[str, int]] = {}
        self.categories: dict[Key, dict[str, int]] = {}
        self.errors: dict[Key, int] = {}
        self.superseded: dict[Key, int] = {}
        self._sums: dict[Key, dict[str, int]] = {}
        self._counts: dict[Key, dict[str, int]] = {}
        self._tokens: dict[Key, dict[str, int | None]] = {}
        self._cost: dict[Key, int] = {}
        self._unpriced: dict[Key, bool] = {}

    def add(self, key: Key, row: dict[str, Any], *, priced: bool) -> None:
        self.keys[key] = None
        rows = int(row["count_all"])
        tokens = self._tokens.setdefault(key, {name: None for name in _TOKENS})
        for name in _TOKENS:
            value = row[f"{name}_sum"]
            if value is not None:
                tokens[name] = (tokens[name] or 0) + int(value)
        if priced:
            self._cost[key] = self._cost.get(key, 0) + int(row["cost_sum"] or 0)
            self._unpriced[key] = self._unpriced.get(key, False) or bool(row["unpriced_any"])
        if row["kind"] == _ERROR:
            self.errors[key] = self.errors.get(key, 0) + rows
            return
        if row["kind"] == _OLDER:
            self.superseded[key] = self.superseded.get(key, 0) + rows
            return
        status, category = row["status"], row["error_category"]
        if status is not None:
            counts = self.statuses.setdefault(key, {})
            counts[str(status)] = counts.get(str(status), 0) + rows
            if status != "full_success" and category is not None:
                shares = self.categories.setdefault(key, {})
                shares[str(category)] = shares.get(str(category), 0) + rows
        sums = self._sums.setdefault(key, dict.fromkeys(_MEASURES, 0))
        measured = self._counts.setdefault(key, dict.fromkeys(_MEASURES, 0))
        for name in _MEASURES:
            if row[f"{name}_count"]:
                sums[name] += int(row[f"{name}_sum"])
                measured[name] += int(row[f"{name}_count"])

    def means(self, key: Key) -> dict[str, float | None]:
        if key not in self._sums:
            return {}
        sums, counts = self._sums[key], self._counts[key]
        # integers divided once: exact sums, one rounding (the same for any order of rows)
        return {
            name: sums[name] / (self._scales[name] * counts[name]) if counts[name] else None
            for name in _MEASURES
        }

    def spend(self, key: Key) -> Spend:
        tokens = self._tokens.get(key, {})
        cost = None
        if key in self._cost and not self._unpriced[key]:
            cost = self._cost[key] / self._scales["cost"]
        return Spend(tokens.get("prompt_tokens"), tokens.get("completion_tokens"), cost)


def _equal(column: pa.ChunkedArray, value: str) -> Any:
    """Rows whose ``column`` holds ``value``, as a numpy mask (nulls: no).

    A dictionary column is compared by its codes: comparing it as text would decode a million
    strings first.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            names = chunk.dictionary.to_pylist()
            code = names.index(value) if value in names else -2
            codes = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
            parts.append(codes == code)
        else:
            same = pc.fill_null(pc.equal(chunk, pa.scalar(value, chunk.type)), False)
            parts.append(np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _exact(column: pa.ChunkedArray) -> tuple[pa.Array, int] | None:
    """``column`` as integers of 1/scale each, and the scale; NaN and null as null.

    Integer sums are exact, so a group's sum does not depend on the order or chunking of its
    rows: a poll that added rows to the held ones shows the very numbers a fresh read shows
    (float sums differ in their last bits, and the page's fingerprint would flicker). The scale
    is the largest power of two that keeps every possible sum within 62 bits; values are
    rounded to it (2**-42 at a million values of at most 1: well below what any page shows).
    ``None`` when that resolution would be coarser than 2**-30, or a value is infinite: the
    caller then leaves the report to pandas.
    """
    import math

    import numpy as np
    import pyarrow as pa

    if pa.types.is_integer(column.type):
        return column.combine_chunks(), 1
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype="float64")
    missing = np.isnan(values)
    present = values[~missing]
    largest = float(np.abs(present).max()) if len(present) else 0.0
    if not math.isfinite(largest):
        return None
    bits = 52 if largest == 0.0 else min(52, math.floor(62 - math.log2(largest * len(values))))
    if bits < 30:
        return None
    units = np.round(np.where(missing, 0.0, values) * 2.0**bits).astype(np.int64)
    return pa.array(units, mask=missing), 2**bits


def _costs(table: pa.Table, prices: Prices) -> tuple[Any, Any]:
    """Each row's cost (0 where unpriced) and whether its model is unpriced (``group_spend``)."""
    import numpy as np

    prompt, completion = _prices_per_row(table.column("model").to_pandas(), prices)
    counts = [
        np.nan_to_num(np.asarray(table.column(name).to_numpy(zero_copy_only=False), "float64"))
        for name in _TOKENS
    ]
    cost = (counts[0] * prompt + counts[1] * completion) / _PER_MILLION
    return np.nan_to_num(cost), np.isnan(cost)


def _latest_of(table: pa.Table, judged: Any, repeated: Collection[str]) -> Any:
    """Each judged row that is its test's latest judged one (``results.latest_masks``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from runbench.analysis.results import _latest_index

    if not repeated:
        return judged
    wanted = pa.array(sorted(repeated), type=pa.string())
    many = np.asarray(
        pc.is_in(table.column("test_id"), value_set=wanted).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    many &= judged
    if not many.any():
        return judged
    where = np.flatnonzero(many)
    keys = table.take(pa.array(where)).select(["test_id", "attempt", "recorded_at"]).to_pandas()
    keys.index = where
    keep = np.zeros(len(judged), dtype=bool)
    keep[np.asarray(_latest_index(keys), dtype=np.int64)] = True
    return judged & (~many | keep)
