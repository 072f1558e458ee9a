"""Golden tests of the tool success model, success levels and scores, computed by hand from
WorkflowBench's rules (interactive_executor.py, workflow_quality_test_flawed.py,
batch_test_runner.py); docs/SCORING.md has the formulas."""

from __future__ import annotations

import pytest

from runbench.workload.classifier import CallOutcome, classify
from runbench.workload.scorer import execution_level, score, signals_completion
from runbench.workload.similarity import FALLBACK_SOURCE, ToolSimilarity
from runbench.workload.simulator import ToolResult, ToolSimulator
from runbench.workload.tools import SHARED_ERRORS, Tool, ToolRegistry, registry

TEST_ID = "0123456789abcdef0123456789abcdef"
# a registry in WorkflowBench's sense: every listed dependency is needed
X = Tool("x_tool", "x", "needs a and b", (), "x", SHARED_ERRORS, ("a_tool", "b_tool"), "a_tool")
A = Tool("a_tool", "a", "a source", (), "a", SHARED_ERRORS, (), "b_tool")
B = Tool("b_tool", "b", "b source", (), "b", SHARED_ERRORS, (), "a_tool")
SMALL = ToolRegistry((A, B, X), dependency_rule="all")
# hand-made vectors: cos(c, d) = cos(a, x) = 1/√2, every other pair 0
VECTORS = {
    "a": {"a": 1.0},
    "b": {"b": 1.0},
    "c": {"c": 1.0},
    "d": {"c": 1.0, "d": 1.0},
    "x": {"a": 1.0, "x": 1.0},
}
SIMILARITY = ToolSimilarity.from_vectors("test", VECTORS)
HALF_ROOT = 2**-0.5


def _all_rule(calls: list[ToolResult], rate: float = 0.8) -> ToolSimulator:
    simulator = ToolSimulator(TEST_ID, rate, SMALL)
    simulator.calls.extend(calls)
    return simulator


def test_a_perfect_rate_is_capped_at_ninety_five_percent() -> None:
    simulator = ToolSimulator(TEST_ID, 1.0)
    assert simulator.success_probability(registry()["file_reader"]) == pytest.approx(0.95)


def test_each_unmet_dependency_halves_the_rate_under_the_all_rule() -> None:
    assert _all_rule([]).success_probability(X) == pytest.approx(0.8 * 0.5 * 0.5)
    assert _all_rule([ToolResult("a_tool", True)]).success_probability(X) == pytest.approx(0.4)


def test_failed_dependency_and_recent_failures_multiply_in() -> None:
    # a ok, a failed (latest a failed → ×0.7), c ok; b unmet → ×0.5; 1 failure in the last 3 → ×0.9
    calls = [ToolResult("a_tool", True), ToolResult("a_tool", False), ToolResult("c_tool", True)]
    assert _all_rule(calls).success_probability(X) == pytest.approx(0.8 * 0.5 * 0.7 * 0.9)


def test_recent_failures_count_only_from_the_third_call() -> None:
    two_failures = [ToolResult("c_tool", False), ToolResult("c_tool", False)]
    assert _all_rule(two_failures).success_probability(A) == pytest.approx(0.8)
    three = [*two_failures, ToolResult("c_tool", True)]
    assert _all_rule(three).success_probability(A) == pytest.approx(0.8 * 0.9**2)


def test_the_probability_never_drops_below_ten_percent() -> None:
    assert _all_rule([], rate=0.1).success_probability(X) == pytest.approx(0.1)


def test_the_builtin_registry_reads_a_dependency_list_as_alternatives() -> None:
    simulator = ToolSimulator(TEST_ID, 0.8)  # built-in: rule "any"
    parser = registry()["data_parser"]  # needs file_reader or network_fetcher
    assert simulator.success_probability(parser) == pytest.approx(0.4)
    simulator.calls.append(ToolResult("network_fetcher", True))
    assert simulator.success_probability(parser) == pytest.approx(0.8)


def test_outcomes_are_seeded_by_test_id_and_call_index() -> None:
    def run(test_id: str) -> list[tuple[bool, str | None]]:
        simulator = ToolSimulator(test_id, 0.6)
        return [
            (r.success, r.error_code) for r in (simulator.call("file_reader") for _ in range(20))
        ]

    assert run(TEST_ID) == run(TEST_ID)
    assert run(TEST_ID) != run("f" * 32)


def test_unknown_tool_and_missing_parameter_fail_without_a_draw() -> None:
    simulator = ToolSimulator(TEST_ID, 1.0)
    assert simulator.call("teleporter").error_code == "TOOL_NOT_FOUND"
    result = simulator.call("file_reader", {"encoding": "latin-1"})
    assert (result.success, result.error_code) == (False, "INVALID_INPUT")


def test_full_level_needs_every_required_tool_in_first_success_order() -> None:
    level = execution_level(
        ["a", "b"], [("a", True), ("b", True)], task_type="basic_task", completion_signalled=False
    )
    assert level == "full_success"
    # b before a: coverage 1 (A) and 2 successes ≥ 2 (C) → partial
    swapped = [("b", True), ("a", True)]
    assert (
        execution_level(["a", "b"], swapped, task_type="basic_task", completion_signalled=False)
        == "partial_success"
    )
    # a repeat after the first success does not change the first-success order
    repeats = [("a", True), ("b", False), ("b", True), ("a", True)]
    assert (
        execution_level(["a", "b"], repeats, task_type="basic_task", completion_signalled=False)
        == "full_success"
    )


def test_partial_level_needs_two_of_four_criteria() -> None:
    required = ["file_reader", "data_parser", "file_writer"]
    # output word "writer" (B), 1 success ≥ simple_task's 1 (C): partial even without a signal
    only_writer = [("file_writer", True)]
    assert (
        execution_level(required, only_writer, task_type="simple_task", completion_signalled=False)
        == "partial_success"
    )
    # a multi-stage task needs 3 successes, so C fails and B alone is not enough → failure
    assert (
        execution_level(
            required, only_writer, task_type="multi_stage_pipeline", completion_signalled=False
        )
        == "failure"
    )
    # B + D
    assert (
        execution_level(
            required, only_writer, task_type="multi_stage_pipeline", completion_signalled=True
        )
        == "partial_success"
    )


def test_golden_scores_of_a_clean_run() -> None:
    scores = score(
        ["a", "b", "c"],
        [("a", True), ("b", True), ("c", True)],
        expected_plan=["a", "b", "c"],
        task_type="basic_task",
        completion_signalled=True,
        similarity=SIMILARITY,
    )
    # workflow = .4 + .3 + .2·1 + .1·.2 = .92
    # achievement = .5·1 + .3·min(1, 3/2) + .2·1 = 1; quality = .4·.8 + .3·min(1, 1.2) + .2·.92
    # = .804; full: max(1, .8), max(.804, .7) → phase2 = (1 + .804)/2 = .902
    assert scores.workflow_score == pytest.approx(0.92)
    assert scores.quality_score == pytest.approx(0.804)
    assert scores.phase2_score == pytest.approx(0.902) == scores.final_score
    assert (scores.status, scores.execution_level) == ("full_success", "full_success")


def test_golden_scores_of_a_partial_run_with_a_semantic_match() -> None:
    # R = a b c d; calls a ok, c ok, b fail, b ok, b ok; no signal
    calls = [("a", True), ("c", True), ("b", False), ("b", True), ("b", True)]
    scores = score(
        ["a", "b", "c", "d"],
        calls,
        expected_plan=["a", "b", "c", "d"],
        task_type="data_pipeline",
        completion_signalled=False,
        similarity=SIMILARITY,
    )
    # level: coverage .75 ≥ .6 (A) and 4 successes ≥ 2 (C) → partial
    # workflow: coverage .75, LCS(abcd, acbb) = 2 → .5, success 4/5 → .3 + .15 + .16 = .61
    assert scores.workflow_score == pytest.approx(0.61)
    # required: a b c called, d ~ c at 1/√2 → (3 + 1/√2)/4; achievement = .5 + .3 + .2·that
    achievement = 0.5 + 0.3 + 0.2 * (3 + HALF_ROOT) / 4
    # quality: .32 + .3·min(1, 3/4·1.2 = .9) + .2·.61 = .712 (partial keeps it)
    assert scores.quality_score == pytest.approx(0.712)
    assert scores.phase2_score == pytest.approx(0.5 * achievement + 0.5 * 0.712)
    assert (scores.status, scores.execution_level) == ("partial_success", "partial_success")
    assert scores.tool_coverage_rate == pytest.approx(0.75)
    assert scores.similarity_source == "test"


def test_golden_scores_of_a_failure_with_progress() -> None:
    scores = score(
        ["a", "b", "c"],
        [("a", False), ("x", True)],
        expected_plan=["a", "b", "c"],
        task_type="multi_stage_pipeline",
        completion_signalled=False,
        similarity=SIMILARITY,
    )
    # workflow: coverage 0, LCS 0, success 1/2 → .1
    assert scores.workflow_score == pytest.approx(0.1)
    # achievement: .5 + .3·(1/2) + .2·(1/√2)/3 (a ~ x), then max(.8·that, .2)
    achievement = max(0.8 * (0.5 + 0.15 + 0.2 * HALF_ROOT / 3), 0.2)
    # quality: .32 + .3·1 + .2·.1 = .64 → max(.8·.64, .2) = .512
    assert scores.quality_score == pytest.approx(0.512)
    assert scores.phase2_score == pytest.approx(0.5 * achievement + 0.256)
    assert (scores.status, scores.execution_level) == ("partial_success", "failure")


def test_no_successful_call_is_a_failure_scored_zero() -> None:
    scores = score(
        ["a"],
        [],
        expected_plan=["a"],
        task_type="basic_task",
        completion_signalled=False,
        similarity=SIMILARITY,
    )
    assert (scores.workflow_score, scores.phase2_score, scores.status) == (0.0, 0.0, "failure")


def test_the_fallback_similarity_is_deterministic_and_named() -> None:
    first = ToolSimilarity.fallback(registry())
    assert first.source == FALLBACK_SOURCE
    assert first.nearest("data_parser") == ToolSimilarity.fallback(registry()).nearest(
        "data_parser"
    )
    assert len(first.nearest("data_parser")) == 5
    assert all(0.0 <= value <= 1.0 for _, value in first.nearest("data_parser"))


def test_completion_phrases_are_workflowbenchs() -> None:
    assert signals_completion("All done. TASK_COMPLETED")
    assert signals_completion("The workflow complete, thanks")
    assert not signals_completion("I will continue with the next step")


@pytest.mark.parametrize(
    ("calls", "kwargs", "category"),
    [
        ([], {"format_errors": 2}, "tool_call_format_errors"),
        ([CallOutcome("a", False, "TIMEOUT")], {}, "timeout_errors"),
        ([CallOutcome("a", True)], {"hit_max_turns": True}, "max_turns_errors"),
        ([CallOutcome("a", True), CallOutcome("x", True)], {}, "tool_selection_errors"),
        (
            [
                CallOutcome("a", False, "INVALID_INPUT"),
                CallOutcome("a", True),
                CallOutcome("b", True),
            ],
            {},
            "parameter_config_errors",
        ),
        ([CallOutcome("b", True), CallOutcome("a", True)], {}, "sequence_order_errors"),
        (
            [
                CallOutcome("b", False, "OPERATION_FAILED", dependency_met=False),
                CallOutcome("a", True),
                CallOutcome("b", True),
            ],
            {},
            "dependency_errors",
        ),
        ([CallOutcome("a", True), CallOutcome("b", True)], {}, "other_errors"),
    ],
)
def test_each_rule_of_the_classifier(
    calls: list[CallOutcome], kwargs: dict[str, object], category: str
) -> None:
    arguments = {"format_errors": 0, "hit_max_turns": False, "completed": False, **kwargs}
    assert classify(["a", "b"], calls, **arguments) == category  # type: ignore[arg-type]
