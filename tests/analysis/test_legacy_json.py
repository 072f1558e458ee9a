"""``report --format legacy-json`` carries every field of the V3 leaf layout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runbench.analysis.summary import legacy_json
from runbench.migrate import import_legacy
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.conftest import FIXTURES

# every field WorkflowBench's enhanced_cumulative_manager.py initialises in a V3 leaf, plus the
# full_success and partial_success counters it adds on first use
V3_LEAF_FIELDS = {
    "total", "success", "partial", "failed", "success_rate", "partial_rate", "failure_rate",
    "weighted_success_score", "full_success_rate", "partial_success_rate",
    "avg_execution_time", "avg_turns", "avg_tool_calls", "tool_coverage_rate",
    "avg_workflow_score", "avg_phase2_score", "avg_quality_score", "avg_final_score",
    "total_errors", "tool_call_format_errors", "timeout_errors", "dependency_errors",
    "parameter_config_errors", "tool_selection_errors", "sequence_order_errors",
    "max_turns_errors", "other_errors", "tool_selection_error_rate", "parameter_error_rate",
    "sequence_error_rate", "dependency_error_rate", "timeout_error_rate", "format_error_rate",
    "max_turns_error_rate", "other_error_rate", "assisted_failure", "assisted_success",
    "total_assisted_turns", "tests_with_assistance", "avg_assisted_turns",
    "assisted_success_rate", "assistance_rate", "full_success", "partial_success",
}  # fmt: skip
MIXED = FIXTURES / "legacy_v3_mixed_and_debris.json"


def _leaf(summary: dict, model: str, path: str) -> dict:
    prompt, rate, difficulty, task = path.split("/")
    node = summary["models"][model]["by_prompt_type"][prompt]["by_tool_success_rate"][rate]
    return node["by_difficulty"][difficulty]["by_task_type"][task]


def test_every_v3_leaf_field_is_present_and_rates_follow_the_v3_rules(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    records = list(synthetic_records(400, seed=12))
    records = [
        dataclasses.replace(record, format_error_count=index % 3)
        for index, record in enumerate(records)
    ]
    store.append(records)
    summary = legacy_json(store, None, None)
    leaves = [
        leaf
        for model in summary["models"].values()
        for prompt in model["by_prompt_type"].values()
        for rate in prompt["by_tool_success_rate"].values()
        for difficulty in rate["by_difficulty"].values()
        for leaf in difficulty["by_task_type"].values()
    ]
    assert leaves
    for leaf in leaves:
        assert set(leaf) >= V3_LEAF_FIELDS
        errors = leaf["total_errors"]
        if errors:
            assert leaf["timeout_error_rate"] == leaf["timeout_errors"] / errors
            assert leaf["format_error_rate"] == leaf["tool_call_format_errors"] / errors
        assert leaf["partial"] == leaf["partial_success"]
        if leaf["tests_with_assistance"]:
            assert leaf["assistance_rate"] == leaf["tests_with_assistance"] / leaf["total"]
            assert (
                leaf["assisted_success"] + leaf["assisted_failure"]
                == (leaf["tests_with_assistance"])
            )
    assisted = sum(leaf["tests_with_assistance"] for leaf in leaves)
    assert assisted == summary["summary"]["tests_with_assistance"] > 0


def test_a_legacy_import_re_exports_its_counts_and_leaf_averages(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    import_legacy(MIXED, store)
    summary = legacy_json(store, None, "legacy-v3")
    normal = _leaf(summary, "alpha", "optimal/0.8/easy/simple_task")
    assert (normal["total"], normal["full_success"], normal["partial"], normal["failed"]) == (
        6,
        3,
        1,
        2,
    )
    assert (normal["avg_execution_time"], normal["avg_workflow_score"]) == (12.5, 0.71)
    assert (normal["tests_with_assistance"], normal["assistance_rate"]) == (1, 0.1667)
    assert normal["tool_selection_error_rate"] == 2 / 3
    mixed = _leaf(summary, "alpha", "flawed_parameter_error/0.8/easy/basic_task")
    assert (mixed["total"], mixed["success"], mixed["total_errors"]) == (7, 4, 5)
    assert mixed["avg_turns"] == 9.0
    assert set(summary["models"]) == {"alpha", "beta"}
    without_legacy = legacy_json(store, None, None)
    assert without_legacy["models"] == {}


def test_a_legacy_report_comes_with_the_leaf_table(tmp_path: Path) -> None:
    from runbench.analysis.report import legacy_leaves_for

    store = open_store(tmp_path, "parquet")
    assert legacy_leaves_for(store, "legacy-v3") is None
    import_legacy(MIXED, store)
    table = legacy_leaves_for(store, "legacy-v3")
    assert table is not None
    assert list(table["tests"]) == [3, 7, 6, 3]
    assert list(table["kind"]) == ["doubled", "mixed", "normal", "normal"]
    assert legacy_leaves_for(store, None) is None
    assert legacy_leaves_for(store, "workflow") is None
    both = legacy_leaves_for(store, "all", models=["beta"])
    assert both is not None and list(both["path"]) == ["beta/baseline/1.0/hard/api_integration"]
