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

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.analysis.results import latest_results
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.storage import Filters, Store
from runbench.storage.legacy_leaves import LEAF_AVERAGES, LEGACY_SUITE, read_leaf_entries
from runbench.storage.locking import fsync_dir

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_VERSION = "runbench-1"
_LEVELS = (
    ("prompt_type", "by_prompt_type"),
    ("tool_success_rate", "by_tool_success_rate"),
    ("difficulty", "by_difficulty"),
    ("task_type", "by_task_type"),
)
_AVERAGES = {
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

SUMMARY_COLUMNS = (
    "model",
    *(column for column, _ in _LEVELS),
    "status",
    "error_category",
    "format_error_count",
    "task_id",
    *_AVERAGES.values(),
)


def node_stats(rows: pd.DataFrame) -> dict[str, Any]:
    """The legacy leaf fields for a set of tests (one row per test)."""
    total = len(rows)
    status = rows["status"]
    full = int((status == "full_success").sum())
    partial = int((status == "partial_success").sum())
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
    for name, column in _AVERAGES.items():
        value = rows[column].mean()
        stats[name] = None if value != value else round(float(value), 6)
    errors = total - full
    stats["total_errors"] = errors
    categories = rows.loc[status != "full_success", "error_category"].value_counts()
    for category in MODEL_ERROR_CATEGORIES:
        stats[category] = int(categories.get(category, 0))
    for name, category in ERROR_RATE_FIELDS.items():
        stats[name] = _rate(stats[category], errors)
    stats.update(_assistance(rows, status, total))
    return stats


def _assistance(rows: pd.DataFrame, status: pd.Series, total: int) -> dict[str, Any]:
    """The V3 "assisted" fields: tests that needed format help (a reply with no parseable action).

    Rows whose format_error_count is unknown (legacy imports) count as not assisted; the leaf
    table keeps what the legacy file said for those.
    """
    helps = rows["format_error_count"].fillna(0)
    assisted = helps > 0
    count = int(assisted.sum())
    succeeded = int((assisted & status.isin(("full_success", "partial_success"))).sum())
    turns = int(helps[assisted].sum())
    return {
        "assisted_failure": count - succeeded,
        "assisted_success": succeeded,
        "total_assisted_turns": turns,
        "tests_with_assistance": count,
        "avg_assisted_turns": _rate(turns, count),
        "assisted_success_rate": _rate(succeeded, count),
        "assistance_rate": _rate(count, total),
    }


def _rate(count: float, total: int) -> float:
    return count / total if total else 0.0


def rate_key(rate: float) -> str:
    """Rate keys as the legacy file wrote them: ``str`` of the float ("0.8", "0.65")."""
    return str(round(float(rate), 2))


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
    models: dict[str, Any] = {}
    for model, rows in tests.groupby("model", sort=True):
        models[str(model)] = {
            "model_name": str(model),
            "total_tests": len(rows),
            "overall_stats": node_stats(rows),
            **_children(rows, 0, leaves),
        }
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {
        "version": SUMMARY_VERSION,
        "generated_at": stamp,
        "summary": {**node_stats(tests), "models_tested": sorted(models)},
        "models": models,
    }


def _children(
    rows: pd.DataFrame, depth: int, leaves: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    column, key = _LEVELS[depth]
    children: dict[str, Any] = {}
    for value, subset in rows.groupby(column, sort=True):
        name = rate_key(float(value)) if column == "tool_success_rate" else str(value)  # type: ignore[arg-type]
        if depth == len(_LEVELS) - 1:
            children[name] = {**node_stats(subset), **_legacy_averages(subset, leaves)}
        else:
            node: dict[str, Any] = {"summary": node_stats(subset)}
            node.update(_children(subset, depth + 1, leaves))
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


def write_summary(frame: pd.DataFrame, path: Path) -> None:
    """Write the summary atomically: a reader sees the old file or the new one, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(build_summary(frame), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


SUMMARY_FILE = "summary.json"


def refresh_summary(store: Store) -> Path | None:
    """Rewrite a JSON store's ``summary.json`` from its rows (legacy imports left out).

    Called after anything adds rows to a JSON store. A Parquet store has no such file: its
    summary is ``runbench report --format legacy-json``. Returns the path written, if any.
    """
    if store.format != "json":
        return None
    from runbench.analysis.report import load_frame

    path = store.path / SUMMARY_FILE
    write_summary(load_frame(store, None, None, SUMMARY_COLUMNS), path)
    return path
