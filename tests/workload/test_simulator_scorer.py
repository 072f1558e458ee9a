from __future__ import annotations

import pytest
from runbench.workload.classifier import CallOutcome, classify
from runbench.workload.scorer import score
from runbench.workload.simulator import UNMET_DEPENDENCY_FACTOR, ToolSimulator
from runbench.workload.tools import registry

TEST_ID = "0123456789abcdef0123456789abcdef"


def test_rate_one_with_dependencies_met_always_succeeds() -> None:
    for seed in range(50):
        simulator = ToolSimulator(f"{seed:032x}", 1.0)
        for name in (
            "file_reader",
            "data_parser",
            "data_validator",
            "data_transformer",
            "file_writer",
        ):
            assert simulator.call(name).success


def test_unmet_dependency_and_recent_failures_lower_the_probability() -> None:
    simulator = ToolSimulator(TEST_ID, 0.8)
    parser = registry()["data_parser"]
    assert simulator.success_probability(parser) == pytest.approx(0.8 * UNMET_DEPENDENCY_FACTOR)
    simulator.calls.append(simulator.call("file_reader").__class__("x", False))
    simulator.calls.append(simulator.calls[-1])
    reader = registry()["file_reader"]
    failures = sum(not c.success for c in simulator.calls[-3:])
    assert simulator.success_probability(reader) == pytest.approx(0.8 ** (1 + 0.5 * failures))


def test_outcomes_are_seeded_by_test_id_and_call_index() -> None:
    def run(test_id: str) -> list[tuple[bool, str | None]]:
        simulator = ToolSimulator(test_id, 0.6)
        return [
            (r.success, r.error_code) for r in (simulator.call("file_reader") for _ in range(20))
        ]

    assert run(TEST_ID) == run(TEST_ID)
    assert run(TEST_ID) != run("f" * 32)


def test_unknown_tool_and_missing_parameter() -> None:
    simulator = ToolSimulator(TEST_ID, 1.0)
    assert simulator.call("teleporter").error_code == "TOOL_NOT_FOUND"
    result = simulator.call("file_reader", {"encoding": "latin-1"})
    assert (result.success, result.error_code) == (False, "INVALID_INPUT")
    assert simulator.call("file_reader", {"path": "a.csv"}).success


def test_golden_scores_of_a_perfect_run() -> None:
    scores = score(
        ["a", "b", "c"], [("a", True), ("b", True), ("c", True)], completed=True, format_errors=0
    )
    assert (scores.workflow_score, scores.phase2_score, scores.final_score) == (1.0, 1.0, 1.0)
    assert scores.status == "full_success"


def test_golden_scores_by_hand() -> None:
    # R = a b c d; calls: a ok, c ok, b fail, b ok, b ok (repeat), completed, 1 format error
    calls = [("a", True), ("c", True), ("b", False), ("b", True), ("b", True)]
    scores = score(["a", "b", "c", "d"], calls, completed=True, format_errors=1)
    # coverage 3/4; LCS(abcd, acbb) = 2 ("ab" or "ac") → order 2/4; call success 4/5; exact 0
    # workflow = 0.4·0.75 + 0.3·0.5 + 0.2·0.8 + 0 = 0.61
    assert scores.workflow_score == pytest.approx(0.61)
    # redundant = 1 (b twice) → quality = 1 − 0.1 − 0.5·1/5 = 0.8; achievement = 0.75
    # phase2 = 0.7·0.75 + 0.3·0.8 = 0.765; final = (0.61 + 0.765)/2 = 0.6875
    assert scores.quality_score == pytest.approx(0.8)
    assert scores.phase2_score == pytest.approx(0.765)
    assert scores.final_score == pytest.approx(0.6875)
    assert scores.tool_coverage_rate == pytest.approx(0.75)
    assert scores.status == "partial_success"


def test_not_completing_halves_achievement_and_nothing_is_a_failure() -> None:
    scores = score(["a", "b"], [("a", True)], completed=False, format_errors=0)
    # coverage .5, order .5, call 1, exact 0 → workflow .2+.15+.2 = .55; phase2 = .7·.25+.3 = .475
    assert scores.workflow_score == pytest.approx(0.55) and scores.phase2_score == pytest.approx(
        0.475
    )
    assert score(["a"], [], completed=False, format_errors=5).status == "failure"


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
