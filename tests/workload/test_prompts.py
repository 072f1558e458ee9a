from __future__ import annotations

import pytest
from runbench.workload.prompts import build_prompt, correct_plan, flawed_plan
from runbench.workload.tasks import builtin_library
from runbench.workload.tools import registry

from runbench.records import FLAWS

TASK = builtin_library().task_for("data_pipeline", "very_hard", 4)  # six steps
SHORT = builtin_library().task_for("simple_task", "very_easy", 0)  # two steps
TEST_ID = "0123456789abcdef0123456789abcdef"


def _tools(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [step.tool for step in plan]


def test_every_flaw_visibly_changes_the_plan() -> None:
    correct = correct_plan(TASK)
    for flaw in FLAWS:
        for test_id in (TEST_ID, "f" * 32, "a" * 32):
            flawed = flawed_plan(TASK, flaw, test_id)
            assert flawed != correct, flaw
            prompt = build_prompt(TASK, f"flawed_{flaw}", test_id)
            assert "Execution plan:" in prompt.user


def test_sequence_disorder_swaps_two_adjacent_steps() -> None:
    correct, flawed = (
        _tools(correct_plan(TASK)),
        _tools(flawed_plan(TASK, "sequence_disorder", TEST_ID)),
    )
    assert sorted(correct) == sorted(flawed)
    changed = [i for i, (a, b) in enumerate(zip(correct, flawed, strict=True)) if a != b]
    assert len(changed) == 2 and changed[1] == changed[0] + 1


def test_tool_misuse_names_another_tool_of_the_same_category() -> None:
    correct, flawed = _tools(correct_plan(TASK)), _tools(flawed_plan(TASK, "tool_misuse", TEST_ID))
    (index,) = [i for i, (a, b) in enumerate(zip(correct, flawed, strict=True)) if a != b]
    assert registry()[flawed[index]].category == registry()[correct[index]].category


def test_parameter_error_states_wrong_parameters() -> None:
    plan = flawed_plan(TASK, "parameter_error", TEST_ID)
    assert _tools(plan) == _tools(correct_plan(TASK))
    (noted,) = [step for step in plan if step.note]
    assert "=null" in noted.note and registry()[noted.tool].parameters[0].name in noted.note


def test_missing_step_drops_a_middle_step() -> None:
    correct, flawed = _tools(correct_plan(TASK)), _tools(flawed_plan(TASK, "missing_step", TEST_ID))
    assert len(flawed) == len(correct) - 1
    assert flawed[0] == correct[0] and flawed[-1] == correct[-1]
    assert _tools(flawed_plan(SHORT, "missing_step", TEST_ID)) == [SHORT.required_tools[0]]


def test_redundant_operations_repeat_a_step() -> None:
    flawed = _tools(flawed_plan(TASK, "redundant_operations", TEST_ID))
    assert len(flawed) == len(TASK.required_tools) + 2
    assert any(flawed[i] == flawed[i + 1] == flawed[i + 2] for i in range(len(flawed) - 2))


def test_logical_inconsistency_contradicts_an_earlier_step() -> None:
    plan = flawed_plan(TASK, "logical_inconsistency", TEST_ID)
    (index,) = [i for i, step in enumerate(plan) if step.note]
    assert plan[index - 1].tool in plan[index].note and "must not be run" in plan[index].note


def test_semantic_drift_swaps_later_steps_for_similar_sounding_tools() -> None:
    correct, flawed = (
        _tools(correct_plan(TASK)),
        _tools(flawed_plan(TASK, "semantic_drift", TEST_ID)),
    )
    half = len(correct) // 2
    assert flawed[:half] == correct[:half]
    assert flawed[half:] == [registry()[tool].similar_to for tool in correct[half:]]


def test_flaws_are_seeded_by_test_id() -> None:
    assert flawed_plan(TASK, "tool_misuse", TEST_ID) == flawed_plan(TASK, "tool_misuse", TEST_ID)


@pytest.mark.parametrize(
    ("prompt_type", "has_plan"), [("baseline", False), ("cot", False), ("optimal", True)]
)
def test_help_levels(prompt_type: str, has_plan: bool) -> None:
    prompt = build_prompt(TASK, prompt_type, TEST_ID)
    assert ("Execution plan:" in prompt.user) is has_plan
    assert ("step by step" in prompt.user) is (prompt_type == "cot")
