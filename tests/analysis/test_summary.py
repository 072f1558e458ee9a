from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from runbench.analysis.summary import build_summary
from runbench.records import DIFFICULTIES, MODEL_ERROR_CATEGORIES, records_to_table
from tests.analysis.conftest import make_record
from tests.conftest import InProcessCli

COUNTS = (
    "total",
    "full_success",
    "partial_success",
    "failed",
    "success",
    "total_errors",
    *MODEL_ERROR_CATEGORIES,
)

record_specs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["full_success", "partial_success", "failure", "error"]),
        st.integers(0, 6),
        st.sampled_from(["optimal", "cot", "flawed_tool_misuse"]),
        st.sampled_from(DIFFICULTIES[:3]),
        st.sampled_from([0.6, 0.8]),
        st.integers(1, 2),
    ),
    max_size=60,
)


def _frame(specs: list[tuple[Any, ...]]) -> pd.DataFrame:
    seen: set[tuple[Any, ...]] = set()
    records = []
    for model, status, instance, prompt, difficulty, rate, attempt in specs:
        key = (model, instance, prompt, difficulty, rate, attempt)
        if key in seen:
            continue
        seen.add(key)
        records.append(
            make_record(
                model,
                status,
                instance=instance,
                prompt_type=prompt,
                difficulty=difficulty,
                rate=rate,
                attempt=attempt,
                run_id=f"run-{attempt}",
                minutes=attempt,
            )
        )
    return records_to_table(records).to_pandas()


def _check_node(node: dict[str, Any]) -> None:
    assert node["total"] == node["full_success"] + node["partial_success"] + node["failed"]
    assert node["success"] == node["full_success"] + node["partial_success"]
    assert node["total_errors"] == node["total"] - node["full_success"]
    for rate, count in (
        ("success_rate", "success"),
        ("full_success_rate", "full_success"),
        ("partial_success_rate", "partial_success"),
        ("failure_rate", "failed"),
    ):
        expected = node[count] / node["total"] if node["total"] else 0.0
        assert abs(node[rate] - expected) < 1e-12


def _check_children(parent: dict[str, Any], children: dict[str, Any]) -> None:
    for name in COUNTS:
        assert parent[name] == sum(child[name] for child in children.values()), name


def _walk(node: dict[str, Any], stats: dict[str, Any]) -> None:
    _check_node(stats)
    level = next((key for key in node if key.startswith("by_")), None)
    if level is None:
        return
    children = node[level]
    child_stats = {name: child.get("summary", child) for name, child in children.items()}
    _check_children(stats, child_stats)
    for name, child in children.items():
        _walk(child, child_stats[name])


@settings(max_examples=150, deadline=None)
@given(record_specs)
def test_summary_is_self_consistent_at_every_level(specs: list[tuple[Any, ...]]) -> None:
    summary = build_summary(_frame(specs))
    models = summary["models"]
    _check_node(summary["summary"])
    _check_children(
        summary["summary"], {name: model["overall_stats"] for name, model in models.items()}
    )
    for model in models.values():
        assert model["total_tests"] == model["overall_stats"]["total"]
        _walk(model, model["overall_stats"])


def test_summary_uses_the_legacy_layout_and_leaf_names() -> None:
    frame = _frame(
        [
            ("a", "full_success", 0, "optimal", "easy", 0.8, 1),
            ("a", "failure", 1, "optimal", "easy", 0.8, 1),
        ]
    )
    leaf = build_summary(frame)["models"]["a"]["by_prompt_type"]["optimal"]["by_tool_success_rate"][
        "0.8"
    ]["by_difficulty"]["easy"]["by_task_type"]["simple_task"]
    assert leaf["total"] == 2 and leaf["full_success"] == 1 and leaf["failed"] == 1
    assert leaf["other_errors"] == 1 and leaf["weighted_success_score"] == 0.5
    assert {
        "avg_execution_time",
        "avg_turns",
        "avg_tool_calls",
        "tool_coverage_rate",
        "avg_workflow_score",
        "avg_phase2_score",
        "avg_quality_score",
        "avg_final_score",
    } <= set(leaf)


def test_migrating_into_a_json_store_refreshes_its_summary(
    tmp_path, cli_in_process: InProcessCli
) -> None:  # type: ignore[no-untyped-def]
    import json

    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    open_store(tmp_path / "src", "parquet").append(list(synthetic_records(200, seed=4)))
    result = cli_in_process(
        "migrate",
        "--from",
        "parquet",
        "--to",
        "json",
        "--store",
        str(tmp_path / "src"),
        "--to-store",
        str(tmp_path / "dst"),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "dst" / "json" / "summary.json").read_text())
    report = json.loads(
        cli_in_process(
            "report", "--store", str(tmp_path / "dst"), "--by", "model", "--format", "json"
        ).stdout
    )
    assert summary["summary"]["total"] == sum(row["tests"] for row in report)
    assert not list((tmp_path / "dst" / "json").glob(".summary.json*")), "no temporary left behind"
