"""The WorkflowBench suite's conversations: its turn rules, tool outcomes, and the sims on it.

A registry file and a WorkflowBench-format library of our own (six tools, every task type) run
through ``run_test``, the path a run takes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
from pathlib import Path

import pytest

from runbench.clients.sim import SimClient
from runbench.matrix import WORKFLOW_SUITE_VERSION
from runbench.plan import Cell
from runbench.records import TASK_TYPES
from runbench.workload.executor import TestOutcome as Outcome
from runbench.workload.executor import run_test
from runbench.workload.scorer import workflow_adherence
from runbench.workload.simulator import ToolSimulator
from runbench.workload.tasks import Task, TaskLibrary, load_tasks
from runbench.workload.wb_prompts import SYSTEM_PROMPT
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES
from tests.fakes.scripted_client import ScriptedClient

TOOLS = load_tool_registry(FIXTURES / "wb" / "tool_registry.json")
TEST_ID = "0123456789abcdef0123456789abcdef"
TASK = Task("t-1", "basic_task", "easy", "Load and split.", ("storage_loader", "text_tokenizer"))


def _run(client: ScriptedClient, prompt_type: str = "baseline", rate: float = 1.0) -> Outcome:
    return asyncio.run(
        run_test(
            client,
            TASK,
            prompt_type=prompt_type,
            test_id=TEST_ID,
            tool_success_rate=rate,
            tools=TOOLS,
        )
    )


def test_a_workflowbench_conversation_searches_resolves_names_and_ignores_parameters() -> None:
    client = ScriptedClient(
        [
            "<tool_search>load stored object</tool_search>",
            'Now: <tool_call>Storage_Loader {"wrong": 1}</tool_call>',
            "<tool_call>tokenizer</tool_call>",
            "TASK_COMPLETED",
        ]
    )
    outcome = _run(client)
    first = client.requests[0].messages
    assert (first[0].content, first[1].role) == (SYSTEM_PROMPT, "user")
    assert first[1].content.startswith("Execute a basic task task.")
    assert "Tool Search Results:" in client.requests[1].messages[-1].content
    assert "1. storage_loader\n" in client.requests[1].messages[-1].content
    # a case-different name and a part of a name resolve; parameters are never checked
    assert [(r.tool, r.success) for r in outcome.execution.results] == [
        ("storage_loader", True),
        ("text_tokenizer", True),
    ]
    assert (
        client.requests[2]
        .messages[-1]
        .content.startswith("✅ storage_loader executed successfully.")
    )
    assert outcome.execution.completed and outcome.execution.turns == 4
    assert outcome.scores.status == "full_success"
    assert [m.get("action") for m in outcome.execution.transcript if m["role"] == "assistant"] == [
        "search",
        "execute",
        "execute",
        "complete",
    ]


def test_an_unanswered_reply_is_not_shown_again_and_help_counts_format_errors() -> None:
    client = ScriptedClient(
        [
            "Thinking.",  # short, no action, turn 1: WorkflowBench answers nothing
            "I would now like to describe at length what the right approach would be here.",
            "Please call it.",  # short, no call: the format check flags it from turn 2 on
            "<tool_call>storage_loader</tool_call>",
        ]
    )
    outcome = _run(client)
    # the first reply never reached the conversation: the second request equals the first
    assert client.requests[1].messages == client.requests[0].messages
    assert client.requests[2].messages[-1].content.startswith("❌ NO VALID ACTION FORMAT DETECTED")
    assert client.requests[3].messages[-1].content.startswith("\n=== TOOL CALL FORMAT HELP ===")
    assert outcome.execution.format_errors == 2
    unseen = [m for m in outcome.execution.transcript if m.get("seen") is False]
    assert [m["content"] for m in unseen] == ["Thinking."]


def test_failures_draw_the_tools_own_errors_invalid_input_included() -> None:
    simulator = ToolSimulator("f" * 32, 0.0, TOOLS)
    failures = [simulator.call_workflowbench("storage_loader") for _ in range(200)]
    failed = [r for r in failures if not r.success]
    codes = collections.Counter(r.error_code for r in failed)
    assert set(codes) == {"INVALID_INPUT", "TIMEOUT", "NOT_FOUND"}  # the tool's own three
    invalid = next(r for r in failed if r.error_code == "INVALID_INPUT")
    assert invalid.error_message is not None
    assert invalid.error_message.startswith("INVALID_INPUT: bad input (expected: ")
    timeout = next(r for r in failed if r.error_code == "TIMEOUT")
    assert timeout.error_message is not None and " seconds)" in timeout.error_message
    # the same test id and call draw the same outcome on every machine
    again = ToolSimulator("f" * 32, 0.0, TOOLS)
    assert [again.call_workflowbench("storage_loader") for _ in range(200)] == failures


# a WorkflowBench-format library of our own: every task type, chains of one to five tools
# listed in dependency order, as WorkflowBench's required tools are
def _library(tmp_path: Path) -> TaskLibrary:
    rng = random.Random(7)
    names = list(TOOLS)  # the fixture registry is in dependency order
    tasks = []
    for task_type in TASK_TYPES:
        for index in range(4):
            length = {"simple_task": 1, "basic_task": 2, "data_pipeline": 3}.get(task_type, 4)
            tasks.append(
                {
                    "id": f"{task_type}_{index}",
                    "task_type": task_type,
                    "complexity": "easy",
                    "description": f"Do the {task_type.replace('_', ' ')} number {index}.",
                    "required_tools": sorted(
                        rng.sample(names, min(length + index % 2, len(names))), key=names.index
                    ),
                }
            )
    path = tmp_path / "task_library_enhanced_v3.json"
    path.write_text(json.dumps({"tasks": tasks}))
    return load_tasks(path, TOOLS)


async def _full_rate(
    library: TaskLibrary, profile: str, prompt: str, rate: float, instances: int
) -> float:
    client = SimClient(f"sim-{profile}", profile)
    full = []
    for difficulty in ("easy", "medium", "hard"):
        for task_type in TASK_TYPES:
            cell = Cell(
                "workflow",
                WORKFLOW_SUITE_VERSION,
                client.model,
                prompt,
                difficulty,
                task_type,
                rate,
            )
            for instance in range(instances):
                outcome = await run_test(
                    client,
                    library.task_for(task_type, difficulty, instance),
                    prompt_type=prompt,
                    test_id=cell.test_id(instance),
                    tool_success_rate=rate,
                    tools=TOOLS,
                )
                full.append(outcome.scores.status == "full_success")
    return sum(full) / len(full)


@pytest.mark.parametrize("prompt", ["baseline", "optimal", "cot"])
def test_the_oracle_succeeds_on_a_workflowbench_library_in_every_cell(
    tmp_path: Path, prompt: str
) -> None:
    library = _library(tmp_path)
    assert library.missing_cells(TASK_TYPES, ("easy", "medium", "hard")) == ()
    assert asyncio.run(_full_rate(library, "oracle", prompt, 1.0, 8)) >= 0.97


def test_the_oracle_must_search_on_baseline(tmp_path: Path) -> None:
    library = _library(tmp_path)
    sim = SimClient("sim-oracle", "oracle")
    task = library.task_for("data_pipeline", "easy", 0)
    outcome = asyncio.run(
        run_test(
            sim, task, prompt_type="baseline", test_id=TEST_ID, tool_success_rate=1.0, tools=TOOLS
        )
    )
    actions = [m.get("action") for m in outcome.execution.transcript if m["role"] == "assistant"]
    assert actions[0] == "search" and "execute" in actions
    assert outcome.scores.status == "full_success"


def test_skill_orders_the_sims_on_optimal_prompts(tmp_path: Path) -> None:
    library = _library(tmp_path)
    rates = [
        asyncio.run(_full_rate(library, p, "optimal", 0.8, 8))
        for p in ("strong", "average", "weak")
    ]
    assert rates[0] > rates[1] > rates[2], rates


THREE = Task(
    "t-3",
    "data_pipeline",
    "easy",
    "Load, split, summarise.",
    ("storage_loader", "text_tokenizer", "text_summarizer"),
)


def _flawed(prompt_type: str, replies: list[str]) -> tuple[Outcome, ScriptedClient]:
    client = ScriptedClient(replies)
    outcome = asyncio.run(
        run_test(
            client,
            THREE,
            prompt_type=prompt_type,
            test_id=TEST_ID,
            tool_success_rate=1.0,
            tools=TOOLS,
            max_turns=3,
        )
    )
    return outcome, client


def test_adherence_is_measured_against_the_shown_flawed_plan_as_workflowbench_does() -> None:
    outcome, client = _flawed(
        "flawed_missing_step",
        ["<tool_call>storage_loader</tool_call>", "<tool_call>text_summarizer</tool_call>", "ok"],
    )
    prompt = client.requests[0].messages[1].content
    assert "1. Execute storage_loader\n2. Execute text_summarizer\n\n" in prompt
    calls = outcome.execution.results
    succeeded = [r.tool for r in calls if r.success]
    shown = ("storage_loader", "text_summarizer")
    assert outcome.scores.workflow_score == round(
        workflow_adherence(shown, succeeded, len(calls)), 6
    )
    assert outcome.scores.workflow_score != round(
        workflow_adherence(THREE.required_tools, succeeded, 2), 6
    )


def test_semantic_drift_shows_the_correct_plan_as_workflowbenchs_runner_does() -> None:
    _, client = _flawed("flawed_semantic_drift", ["ok"])
    prompt = client.requests[0].messages[1].content
    assert (
        "1. Execute storage_loader\n2. Execute text_tokenizer\n3. Execute text_summarizer\n\n"
    ) in prompt
