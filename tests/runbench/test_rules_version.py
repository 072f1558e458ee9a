"""Rows scored under earlier workflow rules never count as tests of the current rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runbench.config import load_config
from runbench.matrix import WORKFLOW_SUITE_VERSION, build_matrix
from runbench.plan import Cell
from runbench.records import WORKFLOW_RULES_VERSION
from runbench.runners.planning import plan_remaining
from runbench.storage import open_store
from tests.analysis.conftest import make_record


def test_the_builtin_suite_version_is_the_current_rules_version() -> None:
    assert WORKFLOW_SUITE_VERSION == WORKFLOW_RULES_VERSION == "3"


def test_a_row_of_the_first_rules_leaves_its_test_to_do(tmp_path: Path) -> None:
    model = load_config(None).resolve_model("sim-oracle")
    matrix = build_matrix(task_types="simple_task", num_instances=1)
    old_cell = Cell("workflow", "1", model.name, "optimal", "easy", "simple_task", 0.8)
    old = dataclasses.replace(
        make_record(model.name, "full_success"),
        test_id=old_cell.test_id(0),
        suite_version="1",
    )
    store = open_store(tmp_path, "json")
    store.append([old])
    jobs, planned = plan_remaining(store, [model], matrix)
    assert (planned, len(jobs)) == (1, 1), "a version-1 row must not make a version-2 test done"
    current = make_record(model.name, "full_success")
    store.append([current])
    assert list(plan_remaining(store, [model], matrix)[0]) == []
