from __future__ import annotations

import pytest

from runbench.records import FLAWS
from runbench.workload.prompts import build_prompt, correct_plan, flawed_plan
from runbench.workload.tasks import Task, builtin_library
from runbench.workload.tools import registry

TASK = builtin_library().task_for("data_pipeline", "very_hard", 4)  # six steps
SHORT = builtin_library().task_for("simple_task", "very_easy", 0)  # two steps
TEST_ID = "0123456789abcdef0123456789abcdef"


def _tools(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [step.tool for step in plan]


# a known workflow; built-in dependencies: parser ← reader, validator ← parser,
# transformer ← parser|validator, writer ← transformer|…; similar_to: validator → filter → validator
KNOWN = Task(
    "known",
    "data_pipeline",
    "hard",
    "Clean and store the data.",
    ("file_reader", "data_parser", "data_validator", "data_transformer", "file_writer"),
)
R, P, V, T, W = KNOWN.required_tools


def test_every_flaw_changes_the_plan_of_a_long_task() -> None:
    correct = correct_plan(TASK)
    for flaw in FLAWS:
        for test_id in (TEST_ID, "f" * 32, "a" * 32):
            flawed = flawed_plan(TASK, flaw, test_id)
            assert flawed != correct, flaw
            prompt = build_prompt(TASK, f"flawed_{flaw}", test_id)
            assert "Execution plan:" in prompt.user


def test_sequence_disorder_moves_every_dependent_step_to_the_front() -> None:
    # from the end: W → front [W R P V T]; index 3 is V → [V W R P T]; index 2 is R (no
    # dependencies); index 1 is W → [W V R P T]; index 0 is W, stays
    assert _tools(flawed_plan(KNOWN, "sequence_disorder", TEST_ID)) == [W, V, R, P, T]


def test_tool_misuse_replaces_half_plus_one_steps_within_their_category() -> None:
    flawed = _tools(flawed_plan(KNOWN, "tool_misuse", TEST_ID))
    changed = [
        i for i, (a, b) in enumerate(zip(KNOWN.required_tools, flawed, strict=True)) if a != b
    ]
    assert len(changed) == 5 // 2 + 1
    for index in changed:
        assert flawed[index].split("_")[0] == KNOWN.required_tools[index].split("_")[0]


def test_parameter_error_marks_half_plus_one_steps_with_wrong_parameters() -> None:
    plan = flawed_plan(KNOWN, "parameter_error", TEST_ID)
    assert _tools(plan) == list(KNOWN.required_tools)
    noted = [step for step in plan if step.note]
    assert len(noted) == 3
    for step in noted:
        assert f"{registry()[step.tool].parameters[0].name}=null" in step.note


def test_missing_step_keeps_only_the_first_and_last_step() -> None:
    assert _tools(flawed_plan(KNOWN, "missing_step", TEST_ID)) == [R, W]
    # WorkflowBench leaves workflows shorter than three steps alone
    assert _tools(flawed_plan(SHORT, "missing_step", TEST_ID)) == list(SHORT.required_tools)


def test_redundant_operations_duplicate_every_step() -> None:
    assert _tools(flawed_plan(KNOWN, "redundant_operations", TEST_ID)) == [
        R,
        R,
        P,
        P,
        V,
        V,
        T,
        T,
        W,
        W,
    ]


def test_logical_inconsistency_breaks_half_the_hand_overs() -> None:
    plan = flawed_plan(KNOWN, "logical_inconsistency", TEST_ID)
    assert _tools(plan) == list(KNOWN.required_tools)
    noted = [index for index, step in enumerate(plan) if step.note]
    assert len(noted) == 5 // 2 and all(index < 4 for index in noted)
    for index in noted:
        assert plan[index + 1].tool in plan[index].note


def test_semantic_drift_drifts_from_the_third_step_each_from_the_one_before() -> None:
    # step 3: V → its similar data_filter; step 4: from data_filter → data_validator; step 5:
    # from data_validator → data_filter
    assert _tools(flawed_plan(KNOWN, "semantic_drift", TEST_ID)) == [
        R,
        P,
        "data_filter",
        "data_validator",
        "data_filter",
    ]
    assert _tools(flawed_plan(SHORT, "semantic_drift", TEST_ID)) == list(SHORT.required_tools)


def test_flaws_are_seeded_by_test_id() -> None:
    assert flawed_plan(TASK, "tool_misuse", TEST_ID) == flawed_plan(TASK, "tool_misuse", TEST_ID)


@pytest.mark.parametrize(
    ("prompt_type", "has_plan"), [("baseline", False), ("cot", False), ("optimal", True)]
)
def test_help_levels(prompt_type: str, has_plan: bool) -> None:
    prompt = build_prompt(TASK, prompt_type, TEST_ID)
    assert ("Execution plan:" in prompt.user) is has_plan
    assert ("step by step" in prompt.user) is (prompt_type == "cot")
