"""A WorkflowBench log judged again gives the numbers WorkflowBench's formulas give by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbench.workload.log_judge import judge_log, logged_values, shown_plan
from runbench.workload.tool_index import load_tool_index
from tests.fakes import wb_logs


@pytest.fixture
def rules(tmp_path: Path) -> tuple[tuple[str, ...], object]:
    index = load_tool_index(wb_logs.write_index(tmp_path / "tool_index.pkl"))
    return index.tool_names, index.similarity()


def test_a_full_success_scores_as_by_hand(rules: tuple) -> None:
    names, similarity = rules
    document = wb_logs.log(
        required=["file_reader", "data_parser"],
        plan=["file_reader", "data_parser"],
        replies=[
            "Searching first. <tool_search>file reader</tool_search>",
            "<tool_call>file_reader</tool_call>",
            "<tool_call>DATA_PARSER</tool_call>",  # matched ignoring case
            "All steps completed. Task completed.",
        ],
        runs=[("file_reader", True), ("data_parser", True)],
        result={},
    )
    judged = judge_log(document, names, similarity)
    # adherence 0.4*1 + 0.3*1 + 0.2*(2/2) + 0.1*0.2; quality 0.4*0.8 + 0.3*min(1, 1.2) + 0.2*wf;
    # full success: achievement max(1.0, 0.8), quality max(q, 0.7); phase2 = mean of the two
    workflow = 0.92
    quality = 0.32 + 0.3 + 0.2 * workflow
    assert judged.tool_calls == ("file_reader", "data_parser")
    assert judged.workflow_score == pytest.approx(workflow, abs=1e-12)
    assert judged.quality_score == pytest.approx(quality, abs=1e-12)
    assert judged.phase2_score == pytest.approx(0.5 * 1.0 + 0.5 * quality, abs=1e-12)
    assert judged.final_score == judged.phase2_score
    assert judged.success and judged.status == "full_success" and judged.replay_note is None


def test_a_failure_gets_semantic_credit_from_the_index(rules: tuple) -> None:
    names, similarity = rules
    required = ["file_reader", "data_parser", "file_writer"]
    document = wb_logs.log(
        required=required,
        plan=required,
        replies=[
            "<tool_call>file_reader</tool_call>",
            "<tool_call>data_validator</tool_call>",
            "<tool_call>file_writer</tool_call>",
        ],
        runs=[("file_reader", True), ("data_validator", True), ("file_writer", False)],
        result={},
    )
    judged = judge_log(document, names, similarity)
    called = {"file_reader", "data_validator"}
    vectors = wb_logs.tool_vectors()
    coverage = sum(wb_logs.reference_similarity(vectors, tool, called) for tool in required) / 3
    # adherence: coverage 1/3, LCS 1/3, success rate 2/3, no exact match
    workflow = 0.4 / 3 + 0.3 / 3 + 0.2 * 2 / 3
    # level failure (1 of 4 partial criteria: two successes meet basic_task's minimum)
    achievement = max(0.8 * (0.5 * 1.0 + 0.3 * 1.0 + 0.2 * coverage), 0.2)
    quality = max(0.8 * (0.32 + 0.3 + 0.2 * workflow), 0.2)
    assert judged.tool_calls == ("file_reader", "data_validator")
    assert judged.workflow_score == pytest.approx(workflow, abs=1e-12)
    assert judged.quality_score == pytest.approx(quality, abs=1e-12)
    assert judged.phase2_score == pytest.approx(0.5 * achievement + 0.5 * quality, abs=1e-6)
    assert judged.success is (judged.phase2_score >= 0.5)


def test_replay_differences_are_named(rules: tuple) -> None:
    names, similarity = rules
    document = wb_logs.log(
        required=["file_reader"],
        plan=["file_reader"],
        replies=["<tool_call>file_reader</tool_call>"],
        runs=[("file_reader", True)],
        result={},
    )
    document["execution_history"][0]["tool"] = "net_fetcher"  # the log ran something else
    assert "replay runs file_reader, the log net_fetcher" in str(
        judge_log(document, names, similarity).replay_note
    )
    document["conversation_history"] = []
    assert judge_log(document, names, similarity).replay_note == "the log has 1 runs, the replay 0"


def test_the_shown_plan_is_read_from_the_prompt() -> None:
    prompt = wb_logs.plan_text(["net_fetcher", "data_parser", "file_writer"])
    assert shown_plan(prompt) == ("net_fetcher", "data_parser", "file_writer")
    assert shown_plan("Execute a task. No plan here.") == ()
    values = logged_values(
        wb_logs.log(required=[], plan=[], replies=[], runs=[], result={"success": True})
    )
    assert values["success"] is True and values["tool_calls"] == ()
