"""The summary's figures as sums that add up exactly, whichever order rows arrive in.

A node of the legacy hierarchy (``summary.py``) is a set of tests; every field of it is a count,
a rate of two counts, or a mean. Kept as a ``Tally`` (counts, and each mean as an exact sum
over a count), two sets' tallies add to the tally of their union, so a parent is the sum of its
children and ``summary.json`` can be brought up to date from the rows appended since it was
written (``summary_state.py``) with the very figures a full recompute gives: floating-point sums
would differ in their last bits with the order of the additions, exact ones cannot.

An exact sum is an integer in units of 2**-1126, the smallest step below any float64's last bit
(subnormals included), summed in NumPy in 26-bit halves per binary exponent (no overflow below
2**36 values per call), so a million values cost milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from runbench.records import MODEL_ERROR_CATEGORIES

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCALE = 1126  # an exact sum counts units of 2**-SCALE
_HALF = 26

AVERAGES = {
    "avg_execution_time": "execution_time",
    "avg_turns": "turns",
    "avg_tool_calls": "tool_calls",
    "tool_coverage_rate": "tool_coverage_rate",
    "avg_workflow_score": "workflow_score",
    "avg_phase2_score": "phase2_score",
    "avg_quality_score": "quality_score",
    "avg_final_score": "final_score",
}

# the V3 layout's error rates are shares of total_errors (not of total), named as it named them
ERROR_RATE_FIELDS = {
    "tool_selection_error_rate": "tool_selection_errors",
    "parameter_error_rate": "parameter_config_errors",
    "sequence_error_rate": "sequence_order_errors",
    "dependency_error_rate": "dependency_errors",
    "timeout_error_rate": "timeout_errors",
    "format_error_rate": "tool_call_format_errors",
    "max_turns_error_rate": "max_turns_errors",
    "other_error_rate": "other_errors",
}

SUCCESS_STATUSES = ("full_success", "partial_success")


def exact_sum(values: np.ndarray) -> int:
    """The exact sum of finite float64 ``values``, in units of 2**-SCALE.

    Raises:
        ValueError: a value is not finite (the record schema refuses those).
    """
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("an exact sum needs finite values")
    fractions, exponents = np.frexp(values)  # value = fraction * 2**exponent, |fraction| < 1
    mantissas = (fractions * 2.0**53).astype(np.int64)  # exact: 53 significant bits
    shifts = exponents.astype(np.int64) + (SCALE - 53)
    total = 0
    low_mask = (1 << _HALF) - 1
    for shift in np.unique(shifts):
        chunk = mantissas[shifts == shift]
        high = int((chunk >> _HALF).sum())  # arithmetic shift: high * 2**26 + low == chunk
        low = int((chunk & low_mask).sum())
        total += ((high << _HALF) + low) << int(shift)
    return total


def exact_mean(total: int, count: int) -> float | None:
    """``total`` (units of 2**-SCALE) over ``count``, correctly rounded; None when count is 0."""
    if count == 0:
        return None
    return float(Fraction(total, count << SCALE))


def pack_sum(total: int) -> list[Any]:
    """An exact sum as JSON: [hex mantissa, power of two], trailing zero bits dropped."""
    if total == 0:
        return ["0", 0]
    zeros = (total & -total).bit_length() - 1
    return [format(total >> zeros, "x"), zeros - SCALE]


def unpack_sum(packed: list[Any]) -> int:
    """The inverse of ``pack_sum``."""
    mantissa, power = int(packed[0], 16), int(packed[1])
    return mantissa << (power + SCALE)


@dataclass(slots=True)
class Tally:
    """What a node's fields are computed from; tallies of disjoint test sets add up."""

    total: int = 0
    full: int = 0
    partial: int = 0
    sums: dict[str, int] = field(default_factory=dict)  # column -> exact sum of non-null values
    counts: dict[str, int] = field(default_factory=dict)  # column -> how many are non-null
    categories: dict[str, int] = field(default_factory=dict)  # among tests not fully successful
    assisted: int = 0
    assisted_success: int = 0
    assisted_turns: int = 0

    def add(self, other: Tally) -> None:
        """Add ``other``'s tests to this tally (in place)."""
        self.total += other.total
        self.full += other.full
        self.partial += other.partial
        for column, value in other.sums.items():
            self.sums[column] = self.sums.get(column, 0) + value
        for column, count in other.counts.items():
            self.counts[column] = self.counts.get(column, 0) + count
        for category, count in other.categories.items():
            self.categories[category] = self.categories.get(category, 0) + count
        self.assisted += other.assisted
        self.assisted_success += other.assisted_success
        self.assisted_turns += other.assisted_turns

    @classmethod
    def summed(cls, tallies: Iterable[Tally]) -> Tally:
        total = cls()
        for tally in tallies:
            total.add(tally)
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "full": self.full,
            "partial": self.partial,
            "sums": {column: pack_sum(value) for column, value in self.sums.items()},
            "counts": self.counts,
            "categories": self.categories,
            "assisted": [self.assisted, self.assisted_success, self.assisted_turns],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        assisted, assisted_success, assisted_turns = data["assisted"]
        return cls(
            int(data["total"]),
            int(data["full"]),
            int(data["partial"]),
            {column: unpack_sum(value) for column, value in data["sums"].items()},
            {column: int(count) for column, count in data["counts"].items()},
            {category: int(count) for category, count in data["categories"].items()},
            int(assisted),
            int(assisted_success),
            int(assisted_turns),
        )


def tally_rows(rows: pd.DataFrame) -> Tally:
    """The tally of a set of tests (one row per test: its latest judged attempt)."""
    import numpy as np

    (tally,) = tally_groups(rows, np.zeros(len(rows), dtype=np.int64), 1)
    return tally


def tally_groups(rows: pd.DataFrame, groups: np.ndarray, count: int) -> list[Tally]:
    """One tally per group of ``rows`` (``groups``: each row's group, 0 ≤ group < ``count``).

    Vectorised over all groups at once (NumPy ``bincount``), so a summary of thousands of
    leaves costs a few passes over the rows, not a pandas group-by per leaf.
    """
    import numpy as np

    status = rows["status"].astype(object).to_numpy()
    full = status == "full_success"
    partial = status == "partial_success"
    tallies = [Tally() for _ in range(count)]
    totals = _counts(groups, count, None)
    fulls = _counts(groups, count, full)
    partials = _counts(groups, count, partial)
    for index, tally in enumerate(tallies):
        tally.total, tally.full, tally.partial = totals[index], fulls[index], partials[index]
    for column in AVERAGES.values():
        values = rows[column].to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(values)
        present_counts = _counts(groups, count, present)
        sums = _exact_sums(groups[present], values[present], count)
        for index, tally in enumerate(tallies):
            tally.sums[column] = sums[index]
            tally.counts[column] = present_counts[index]
    categories = rows["error_category"].astype(object).to_numpy()
    for category in MODEL_ERROR_CATEGORIES:
        mine = _counts(groups, count, ~full & (categories == category))
        for index, tally in enumerate(tallies):
            if mine[index]:
                tally.categories[category] = mine[index]
    helps = rows["format_error_count"].to_numpy(dtype="float64", na_value=0.0).astype(np.int64)
    assisted = helps > 0
    assisted_counts = _counts(groups, count, assisted)
    assisted_success = _counts(groups, count, assisted & (full | partial))
    turns = np.bincount(groups[assisted], weights=helps[assisted], minlength=count)
    for index, tally in enumerate(tallies):
        tally.assisted = assisted_counts[index]
        tally.assisted_success = assisted_success[index]
        tally.assisted_turns = int(turns[index])
    return tallies


def _counts(groups: np.ndarray, count: int, mask: np.ndarray | None) -> list[int]:
    """Rows per group (those where ``mask`` holds)."""
    import numpy as np

    chosen = groups if mask is None else groups[mask]
    return [int(value) for value in np.bincount(chosen, minlength=count)]


def _exact_sums(groups: np.ndarray, values: np.ndarray, count: int) -> list[int]:
    """``exact_sum`` of each group's values, all groups in one pass.

    Each value's 53-bit mantissa is split in 26-bit halves and summed per (group, exponent) by
    ``bincount``: float64 weights hold those sums exactly below 2**26 values per call.
    """
    import numpy as np

    if not np.isfinite(values).all():
        raise ValueError("an exact sum needs finite values")
    sums = [0] * count
    if len(values) == 0:
        return sums
    if len(values) >= 1 << 26:
        raise ValueError("exact sums take fewer than 2**26 values at once")
    fractions, exponents = np.frexp(values)
    mantissas = (fractions * 2.0**53).astype(np.int64)
    shifts = exponents.astype(np.int64) + (SCALE - 53)
    keys, inverse = np.unique(
        groups.astype(np.int64) * 4096 + shifts, return_inverse=True
    )  # shifts lie in 0..2150, below 4096
    high = np.bincount(inverse, weights=(mantissas >> _HALF).astype(np.float64))
    low = np.bincount(inverse, weights=(mantissas & ((1 << _HALF) - 1)).astype(np.float64))
    for key, high_sum, low_sum in zip(keys.tolist(), high.tolist(), low.tolist(), strict=True):
        group, shift = divmod(key, 4096)
        sums[group] += ((int(high_sum) << _HALF) + int(low_sum)) << shift
    return sums


def stats_of(tally: Tally) -> dict[str, Any]:
    """The legacy leaf fields of a tally, as the V3 layout names them."""
    total, full, partial = tally.total, tally.full, tally.partial
    failed = total - full - partial
    stats: dict[str, Any] = {
        "total": total,
        "full_success": full,
        "partial_success": partial,
        "partial": partial,
        "failed": failed,
        "success": full + partial,
        "success_rate": _rate(full + partial, total),
        "full_success_rate": _rate(full, total),
        "partial_success_rate": _rate(partial, total),
        "partial_rate": _rate(partial, total),
        "failure_rate": _rate(failed, total),
        "weighted_success_score": _rate(full + 0.5 * partial, total),
    }
    for name, column in AVERAGES.items():
        mean = exact_mean(tally.sums.get(column, 0), tally.counts.get(column, 0))
        stats[name] = None if mean is None else round(mean, 6)
    errors = total - full
    stats["total_errors"] = errors
    for category in MODEL_ERROR_CATEGORIES:
        stats[category] = tally.categories.get(category, 0)
    for name, category in ERROR_RATE_FIELDS.items():
        stats[name] = _rate(stats[category], errors)
    count, succeeded, turns = tally.assisted, tally.assisted_success, tally.assisted_turns
    stats.update(
        {
            "assisted_failure": count - succeeded,
            "assisted_success": succeeded,
            "total_assisted_turns": turns,
            "tests_with_assistance": count,
            "avg_assisted_turns": _rate(turns, count),
            "assisted_success_rate": _rate(succeeded, count),
            "assistance_rate": _rate(count, total),
        }
    )
    return stats


def _rate(count: float, total: int) -> float:
    return count / total if total else 0.0
