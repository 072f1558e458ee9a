"""The hierarchical summary in the legacy PILOT-Bench V3 layout, computed from rows.

model → by_prompt_type → by_tool_success_rate → by_difficulty → by_task_type, with the legacy
leaf names, so tools written for the old ``master_database.json`` keep working. Unlike the old
file, nothing here is a stored counter: every node is computed from the tests below it (each test
once: its latest non-error attempt), so ``total = full_success + partial_success + failed``, every
rate is its count over ``total``, and every parent's counts are the sums of its children's.

Every field of the V3 leaf layout is present (WorkflowBench ``enhanced_cumulative_manager.py``):
``partial`` beside ``partial_success``, the ``*_error_rate`` fields as shares of
``total_errors`` (as V3 computed them), and the assistance fields from ``format_error_count``.
Legacy imports have no per-test averages; ``legacy_json`` gives their leaves the averages the
legacy leaf table kept (``runbench.storage.legacy_leaves``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from runbench.analysis.results import latest_results
from runbench.analysis.summary_sums import (
    AVERAGES,
    Tally,
    stats_of,
    tally_groups,
    tally_rows,
)
from runbench.storage import Filters, Store
from runbench.storage.legacy_leaves import LEAF_AVERAGES, LEGACY_SUITE, read_leaf_entries

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_VERSION = "runbench-1"
_LEVELS = (
    ("prompt_type", "by_prompt_type"),
    ("tool_success_rate", "by_tool_success_rate"),
    ("difficulty", "by_difficulty"),
    ("task_type", "by_task_type"),
)
LEAF_COLUMNS = ("model", *(column for column, _ in _LEVELS))

SUMMARY_COLUMNS = (
    *LEAF_COLUMNS,
    "status",
    "error_category",
    "format_error_count",
    "task_id",
    *AVERAGES.values(),
)

LeafKey = tuple[str, str, str, str, str]  # model, prompt type, rate key, difficulty, task type


def node_stats(rows: pd.DataFrame) -> dict[str, Any]:
    """The legacy leaf fields for a set of tests (one row per test)."""
    return stats_of(tally_rows(rows))


def rate_key(rate: float) -> str:
    """Rate keys as the legacy file wrote them: ``str`` of the float ("0.8", "0.65")."""
    return str(round(float(rate), 2))


def _leaf_key(values: object) -> LeafKey:
    """A leaf's key from a group-by's values (model, prompt type, rate, difficulty, task)."""
    model, prompt_type, rate, difficulty, task_type = cast(tuple[Any, ...], values)
    return (str(model), str(prompt_type), rate_key(rate), str(difficulty), str(task_type))


def leaf_tallies(tests: pd.DataFrame) -> dict[LeafKey, Tally]:
    """The tally of every leaf (model × prompt type × rate × difficulty × task type) of ``tests``.

    ``tests`` holds one row per test (``latest_results``).
    """
    import numpy as np

    if tests.empty:
        return {}
    groups = tests.groupby(list(LEAF_COLUMNS), observed=True, sort=False).ngroup().to_numpy()
    count = int(groups.max()) + 1
    _, first_rows = np.unique(groups, return_index=True)  # each group's first row, by group
    keys = tests[list(LEAF_COLUMNS)].iloc[first_rows].itertuples(index=False, name=None)
    result: dict[LeafKey, Tally] = {}
    for values, tally in zip(keys, tally_groups(tests, groups, count), strict=True):
        result.setdefault(_leaf_key(values), Tally()).add(tally)  # two rates may share a key
    return result


def build_summary(
    frame: pd.DataFrame,
    *,
    now: datetime | None = None,
    leaves: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole hierarchy from stored rows (every attempt; the latest per test is chosen here).

    ``leaves`` is the legacy leaf table by path: a leaf node that holds exactly one imported
    legacy leaf's rows takes that leaf's averages (scores, turns, assistance), which its rows
    do not carry, so a re-export of an import gives back what the V3 file said.
    """
    tests = latest_results(frame)
    extras: dict[LeafKey, dict[str, Any]] = {}
    if leaves:
        for values, rows in tests.groupby(list(LEAF_COLUMNS), observed=True, sort=False):
            extras[_leaf_key(values)] = _legacy_averages(rows, leaves)
    return summary_of(leaf_tallies(tests), now=now, extras=extras)


def summary_of(
    tallies: Mapping[LeafKey, Tally],
    *,
    now: datetime | None = None,
    extras: Mapping[LeafKey, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The hierarchy from its leaves' tallies: every parent is the sum of its children.

    This is the one place the layout is drawn, for a full recompute (``build_summary``) and for
    ``summary.json`` kept up to date from the rows appended since (``summary_state.py``).
    """
    models: dict[str, Any] = {}
    for model in sorted({key[0] for key in tallies}):
        mine = {key: tally for key, tally in tallies.items() if key[0] == model}
        overall = Tally.summed(mine.values())
        models[model] = {
            "model_name": model,
            "total_tests": overall.total,
            "overall_stats": stats_of(overall),
            **_children(mine, 1, extras or {}),
        }
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {
        "version": SUMMARY_VERSION,
        "generated_at": stamp,
        "summary": {**stats_of(Tally.summed(tallies.values())), "models_tested": sorted(models)},
        "models": models,
    }


def _sort_key(depth: int) -> Callable[[str], Any]:
    """Children in the order of their values (rates as numbers, names as text)."""
    if _LEVELS[depth - 1][0] == "tool_success_rate":
        return float
    return str


def _children(
    tallies: Mapping[LeafKey, Tally], depth: int, extras: Mapping[LeafKey, Mapping[str, Any]]
) -> dict[str, Any]:
    """The nodes at ``depth`` (1: prompt type … 4: task type) below the given leaves."""
    _, key = _LEVELS[depth - 1]
    groups: dict[str, dict[LeafKey, Tally]] = {}
    for leaf, tally in tallies.items():
        groups.setdefault(leaf[depth], {})[leaf] = tally
    children: dict[str, Any] = {}
    for name in sorted(groups, key=_sort_key(depth)):
        below = groups[name]
        if depth == len(_LEVELS):
            ((leaf, tally),) = below.items()
            children[name] = {**stats_of(tally), **extras.get(leaf, {})}
        else:
            node: dict[str, Any] = {"summary": stats_of(Tally.summed(below.values()))}
            node.update(_children(below, depth + 1, extras))
            children[name] = node
    return {key: children}


def _legacy_averages(
    rows: pd.DataFrame, leaves: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    """The stored averages of the one legacy leaf these rows are, if they are exactly that."""
    if not leaves or "task_id" not in rows or "suite" not in rows:
        return {}
    if not (rows["suite"] == LEGACY_SUITE).all():
        return {}
    paths = rows["task_id"].unique()
    entry = leaves.get(str(paths[0])) if len(paths) == 1 else None
    if entry is None or entry.get("tests") != len(rows):
        return {}
    return {name: entry[name] for name in LEAF_AVERAGES if entry.get(name) is not None}


def legacy_json(store: Store, filters: Filters | None, suite: str | None) -> dict[str, Any]:
    """``report --format legacy-json``: the V3 hierarchy of the selected rows, every V3 field.

    With legacy imports selected (``suite`` ``legacy-v3`` or ``all``) their leaves carry the
    averages kept in the legacy leaf table.
    """
    from runbench.analysis.report import LEGACY_SUITES, load_frame

    frame = load_frame(store, filters, suite, SUMMARY_COLUMNS)
    wants_legacy = suite is not None and (suite == "all" or suite in LEGACY_SUITES)
    leaves = read_leaf_entries(store.root) if wants_legacy else None
    return build_summary(frame, leaves=leaves)


SUMMARY_FILE = "summary.json"


def refresh_summary(store: Store) -> Path | None:
    """Bring a JSON store's ``summary.json`` up to date with its rows (legacy imports left out).

    Called after anything adds rows to a JSON store; reads only the rows appended since the last
    refresh (``summary_state.py``). A Parquet store has no such file: its summary is
    ``runbench report --format legacy-json``. Returns the path written, if any.
    """
    if store.format != "json":
        return None
    from runbench.analysis.summary_state import refresh

    path = store.path / SUMMARY_FILE
    refresh(store, path)
    return path
