"""The legacy leaf table: what a PILOT-Bench V3 leaf knew beyond its counts, kept as it was.

The legacy ``master_database.json`` stored only averages per leaf (scores, turns, tool calls,
execution time, assistance). Spreading them over invented per-test values would fabricate data,
so ``runbench migrate --legacy`` imports one row per test with those fields null and keeps the
averages here, one entry per leaf, beside the store: ``<store root>/legacy/leaves.json``. Both
store formats of one root share it. ``legacy_leaf_table`` reads it for
``runbench report --suite legacy-v3`` (``analysis.legacy_leaves``).

This module is the file's format (where it is, its columns, how to read it) and sits in storage
because the file lives in the store's root: the import that writes it (``migrate``) and the
report that reads it (``analysis``) both build on storage and never on each other.

The file is written by ``runbench.migrate.legacy`` only (atomically, under
``<store root>/legacy/leaves.lock``); an entry is keyed by its leaf path, and a later import of a
leaf replaces the earlier entry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LEGACY_SUITE = "legacy-v3"
LEAF_DIRECTORY = "legacy"
LEAF_FILE = "leaves.json"
LEAF_TABLE_VERSION = 1
LEAF_KEYS = ("model", "prompt_type", "tool_success_rate", "difficulty", "task_type")
LEAF_COUNTS = ("tests", "full", "partial", "failed", "imported")
LEAF_AVERAGES = (
    "avg_execution_time",
    "avg_turns",
    "avg_tool_calls",
    "tool_coverage_rate",
    "avg_workflow_score",
    "avg_phase2_score",
    "avg_quality_score",
    "avg_final_score",
    "tests_with_assistance",
    "total_assisted_turns",
    "assisted_success",
    "assisted_failure",
    "avg_assisted_turns",
    "assisted_success_rate",
    "assistance_rate",
)
LEAF_COLUMNS = ("path", *LEAF_KEYS, "kind", "debris", *LEAF_COUNTS, *LEAF_AVERAGES, "source")


def leaf_table_path(root: Path) -> Path:
    """Where a store root keeps its legacy leaf table."""
    return root / LEAF_DIRECTORY / LEAF_FILE


def read_leaf_entries(root: Path) -> dict[str, dict[str, Any]]:
    """The stored entries by leaf path; none when nothing was imported or the file is damaged.

    A damaged file is reported with a warning and read as empty: the rows in the store stay the
    truth, and the next import rewrites the table whole.
    """
    path = leaf_table_path(root)
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:
        log.warning("skipped damaged legacy leaf table %s: %s", path, error)
        return {}
    leaves = document.get("leaves") if isinstance(document, dict) else None
    if not isinstance(leaves, list):
        log.warning("skipped damaged legacy leaf table %s: no 'leaves' list", path)
        return {}
    return {
        str(entry["path"]): entry
        for entry in leaves
        if isinstance(entry, dict) and isinstance(entry.get("path"), str)
    }
