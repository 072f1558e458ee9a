"""WorkflowBench's prompts (``wb_prompts``) on tasks of our own: golden texts and placements.

The texts were also checked by hand against the ``prompt`` field of 1,824 of WorkflowBench's
real logs (every 7th): equal outside the plan's RAG details in all of them.
"""

from __future__ import annotations

import pytest

from runbench.workload.tasks import Task
from runbench.workload.wb_prompts import (
    SEARCH_NOTE,
    SYSTEM_PROMPT,
    initial_prompt,
    task_goals,
    user_prompt,
)

BASIC = Task(
    "task_0001",
    "basic_task",
    "easy",
    "Parse the log file and summarise its errors.",
    ("file_operations_reader", "data_processing_parser"),
)
PIPELINE = Task(
    "task_0002", "data_pipeline", "hard", "Move the records.", ("file_operations_reader",)
)

GOLDEN_BASELINE_HEAD = (
    "Execute a basic task task.\n\n"
    "    Task: Parse the log file and summarise its errors.\n\n"
    "Task Goals:\n"
    "1. Use file_operations_reader to begin processing\n"
    "2. Apply data_processing_parser for data transformation\n"
    "3. Generate the structured output\n\n"
    "    Tool Search Available:\n"
    "    You have access to a comprehensive tool library with specialized tools for various "
    "operations.\n"
)
GOLDEN_OPTIMAL_PLAN = (
    "    7. Indicate when finished\n\n"
    "    \n\n"
    "    ## Workflow Execution Plan\n\n"
    "    1. Execute file_operations_reader\n"
    "2. Execute data_processing_parser\n\n"
    "    ### Analysis Results:\n"
    "    - Tools selected using: Pattern matching\n"
    "    - Critical tools identified: None\n\n"
    "    ### Execution Strategy:\n"
    "    1. Follow the recommended sequence for optimal results\n"
    "    2. Use alternatives if primary tools fail\n"
    "    3. Pay special attention to critical tools\n"
    "    4. ALWAYS use default parameters - never ask for user input\n"
    "    5. Execute ONE tool at a time and wait for feedback\n\n"
    "    REMINDER: This is an automated test. Execute one tool, wait for its result, then "
    "proceed to the next.\n"
    "    \n\n"
    "Begin by searching for the first tool you need."
)


def test_the_baseline_prompt_is_workflowbenchs_text_with_the_task_goals() -> None:
    prompt = initial_prompt(BASIC, "baseline")
    assert prompt.startswith(GOLDEN_BASELINE_HEAD)
    assert prompt.endswith(
        "    7. Indicate when finished\n\n    Begin by searching for the first tool you need."
    )
    assert "Inputs:" not in prompt and "Input Data" not in prompt
    assert user_prompt(BASIC, "baseline") == prompt  # no "Available Tools:" list to replace


def test_the_optimal_plan_goes_before_the_last_line_and_the_search_note_after_it() -> None:
    plan = BASIC.required_tools
    assert initial_prompt(BASIC, "optimal", plan).endswith(GOLDEN_OPTIMAL_PLAN)
    assert user_prompt(BASIC, "optimal", plan) == initial_prompt(BASIC, "optimal", plan) + (
        SEARCH_NOTE
    )


def test_flawed_prompts_show_the_given_sequence_with_the_flawed_reminder() -> None:
    prompt = initial_prompt(BASIC, "flawed_missing_step", ("data_processing_parser",))
    assert "    1. Execute data_processing_parser\n\n    ### Analysis Results:" in prompt
    assert (
        "    IMPORTANT: Execute tools one by one. After each tool execution, wait for feedback "
        "before proceeding.\n\n    REMINDER: This is an automated test. Use the default "
        "parameters specified earlier for all tool executions.\n    \n\nBegin by searching"
    ) in prompt


def test_cot_asks_for_reasoning_before_the_last_line() -> None:
    prompt = initial_prompt(PIPELINE, "cot")
    assert "    **Think step by step about which tools to use and why.**" in prompt
    assert prompt.endswith(
        'Begin with "Reasoning:" followed by your thought process, then execute the first tool.'
        "\n\nBegin by searching for the first tool you need."
    )
    assert "## Workflow Execution Plan" not in prompt


def test_goals_follow_the_task_type_as_the_runner_passes_the_task() -> None:
    assert task_goals(PIPELINE).splitlines()[0] == "1. Read data from the input source"
    simple = Task("t", "simple_task", "easy", "d", ("file_operations_reader",))
    assert task_goals(simple) == ""  # needs test_input, which the runner never passes


def test_the_system_prompt_is_workflowbenchs() -> None:
    assert SYSTEM_PROMPT.startswith(
        "You are an AI assistant executing workflow tasks in an automated testing environment. \n"
        "    Your goal is"
    )
    assert SYSTEM_PROMPT.endswith(
        "Available tool categories: file_operations, data_processing, network, computation, "
        "integration, utility"
    )


def test_an_unknown_prompt_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown prompt type"):
        initial_prompt(BASIC, "shouting")
