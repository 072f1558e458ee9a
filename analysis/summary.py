"""The hierarchical summary in the legacy PILOT-Bench V3 layout, computed from rows.

model → by_prompt_type → by_tool_success_rate → by_difficulty → by_task_type, with the legacy
leaf names, so tools written for the old ``master_database.json`` keep working. Unlike the old
file, nothing here is a stored counter: every node is computed from the tests below it (each test
once: its latest non-error attempt), so ``total = full_success + partial_success + failed``, every
rate is its count over ``total``, and every parent's counts are the sums of its children's.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.analysis.results import latest_results
from runbench.storage import Store
from runbench.storage.locking import fsync_dir

from runbench.records import MODEL_ERROR_CATEGORIES

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


SUMMARY_COLUMNS = (
    "model",
    *(column for column, _ in _LEVELS),
    "status",
    "error_category",
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
        "failed": failed,
        "success": full + partial,
        "success_rate": _rate(full + partial, total),
        "full_success_rate": _rate(full, total),
        "partial_success_rate": _rate(partial, total),
        "failure_rate": _rate(failed, total),
        "weighted_success_score": _rate(full + 0.5 * partial, total),
    }
    for name, column in _AVERAGES.items():
        value = rows[column].mean()
        stats[name] = None if value != value else round(float(value), 6)
    stats["total_errors"] = total - full
    categories = rows.loc[status != "full_success", "error_category"].value_counts()
    for category in MODEL_ERROR_CATEGORIES:
        stats[category] = int(categories.get(category, 0))
    return stats


def _rate(count: float, total: int) -> float:
    return count / total if total else 0.0


def rate_key(rate: float) -> str:
    """Rate keys as the legacy file wrote them: ``str`` of the float ("0.8", "0.65")."""
    return str(round(float(rate), 2))


def build_summary(frame: pd.DataFrame, *, now: datetime | None = None) -> dict[str, Any]:
    """The whole hierarchy from stored rows (every attempt; the latest per test is chosen here)."""
    tests = latest_results(frame)
    models: dict[str, Any] = {}
    for model, rows in tests.groupby("model", sort=True):
        models[str(model)] = {
            "model_name": str(model),
            "total_tests": len(rows),
            "overall_stats": node_stats(rows),
            **_children(rows, 0),
        }
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {
        "version": SUMMARY_VERSION,
        "generated_at": stamp,
        "summary": {**node_stats(tests), "models_tested": sorted(models)},
        "models": models,
    }


def _children(rows: pd.DataFrame, depth: int) -> dict[str, Any]:
    column, key = _LEVELS[depth]
    children: dict[str, Any] = {}
    for value, subset in rows.groupby(column, sort=True):
        name = rate_key(value) if column == "tool_success_rate" else str(value)
        if depth == len(_LEVELS) - 1:
            children[name] = node_stats(subset)
        else:
            node: dict[str, Any] = {"summary": node_stats(subset)}
            node.update(_children(subset, depth + 1))
            children[name] = node
    return {key: children}


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
