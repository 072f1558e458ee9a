"""The multi-turn loop of one test: model replies, tools answer, until done or stopped.

A loaded WorkflowBench registry with protocol ``tags`` is the WorkflowBench suite: its test runs
WorkflowBench's own prompts and turn rules (``wb_executor``). Everything below describes the
built-in suite's loop (the built-in tools, or protocol ``native``).

Protocol ``tags``: the model acts with ``<tool_search>``, ``<tool_info>`` and ``<tool_call>`` tags
(several per reply are allowed, a call may carry JSON parameters) and signals completion.
Protocol ``native``: tools are offered as OpenAI functions and calls come back as ``tool_calls``.
Both use the same simulator and the same scoring. A reply with no action and no completion
signal gets a format-help message and counts a format error.

The loop follows WorkflowBench's ``InteractiveExecutor.execute_interactive``: a completion signal
ends the test only once every required tool has succeeded (an early "done" is ignored and the
model keeps its remaining turns); otherwise the test ends at ``max_turns`` or on one of
``_should_terminate``'s guards: the last ``FAILURE_STREAK`` calls all failed, more than
``MAX_SUCCESSFUL_CALLS`` calls succeeded, or the last ``LOOP_LIMIT`` successful calls were the
same tool (a loop). A retry that succeeds never trips a guard, so no test ends while a retry is
making progress.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from runbench.chat import ChatMessage, ChatRequest, ModelClient, TaskOracle, ToolCall
from runbench.workload.classifier import CallOutcome, classify
from runbench.workload.prompts import PlanStep, build_prompt, correct_plan
from runbench.workload.scorer import Scores, score, signals_completion
from runbench.workload.similarity import ToolSimilarity, default_similarity
from runbench.workload.simulator import ToolSimulator
from runbench.workload.tasks import Task
from runbench.workload.tools import Tool, ToolRegistry, builtin_registry, search_tools
from runbench.workload.turns import (
    FAILURE_STREAK,
    LOOP_LIMIT,
    MAX_SUCCESSFUL_CALLS,
    Execution,
    guard,
    message_json,
)
from runbench.workload.wb_executor import converse
from runbench.workload.wb_feedback import KeywordRanker, ToolRanker
from runbench.workload.wb_prompts import SYSTEM_PROMPT, user_prompt

ToolProtocol = Literal["tags", "native"]
COMPLETION_WORD = "TASK_COMPLETED"
DEFAULT_MAX_TURNS = 10
FORMAT_HELP = (
    "No action found. Use <tool_search>words</tool_search>, <tool_info>name</tool_info> or "
    '<tool_call>name {"param": "value"}</tool_call>, or say TASK_COMPLETED when done.'
)
_TAG = re.compile(r"<(tool_search|tool_info|tool_call)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # tool_search, tool_info or tool_call
    argument: str
    parameters: dict[str, Any] | None = None
    call_id: str | None = None


def parse_actions(text: str) -> list[Action]:
    """Every well-formed tag in a reply, in order; malformed JSON parameters become ``{}``."""
    actions = []
    for kind, body in _TAG.findall(text):
        body = body.strip()
        if kind != "tool_call":
            actions.append(Action(kind, body))
            continue
        name, _, rest = body.partition(" ")
        parameters: dict[str, Any] | None = None
        if rest.strip():
            try:
                loaded = json.loads(rest)
                parameters = loaded if isinstance(loaded, dict) else {}
            except json.JSONDecodeError:
                parameters = {}  # stated but unreadable: the call fails as INVALID_INPUT
        actions.append(Action(kind, name.strip(), parameters))
    return actions


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """Everything the workload contributes to a record."""

    task: Task
    execution: Execution
    scores: Scores
    error_category: str | None


async def run_test(
    client: ModelClient,
    task: Task,
    *,
    prompt_type: str,
    test_id: str,
    tool_success_rate: float,
    protocol: ToolProtocol = "tags",
    max_turns: int = DEFAULT_MAX_TURNS,
    tools: ToolRegistry | None = None,
    similarity: ToolSimilarity | None = None,
    ranker: ToolRanker | None = None,
) -> TestOutcome:
    """Run one test to its end and score it. Raises what the client raises (ProviderError).

    ``tools`` is the registry (the built-in one by default); ``similarity`` matches required
    tools with similar called ones, built once per run from an embeddings endpoint; without
    one, the deterministic fallback is used and recorded as such. A loaded registry file with
    the ``tags`` protocol is the WorkflowBench suite: WorkflowBench's prompts and executor
    (``wb_executor``), its search ranked by ``ranker`` (WorkflowBench's keyword fallback when
    None).
    """
    registry_ = builtin_registry() if tools is None else tools
    prompt = build_prompt(task, prompt_type, test_id, protocol, registry_)
    if protocol == "tags" and not registry_.is_builtin:
        return await _run_workflowbench(
            client,
            task,
            prompt_type,
            test_id,
            workflowbench_plan(task, prompt_type, prompt.plan),
            ToolSimulator(test_id, tool_success_rate, registry_),
            max_turns,
            ranker or KeywordRanker(registry_),
            similarity or default_similarity(registry_),
        )
    messages = [ChatMessage("system", prompt.system), ChatMessage("user", prompt.user)]
    correct = tuple(step.tool for step in correct_plan(task))
    oracle = TaskOracle(
        correct,  # a simulated agent's idea of the right workflow
        tuple(step.tool for step in prompt.plan),
        prompt_type,
        task.task_type,
        task.difficulty,
        tuple(step.note for step in prompt.plan),
    )
    offered = (
        tuple(tool.openai_function() for tool in registry_.values()) if protocol == "native" else ()
    )
    simulator = ToolSimulator(test_id, tool_success_rate, registry_)
    execution = Execution()
    while execution.turns < max_turns:
        response = await client.complete(ChatRequest(tuple(messages), test_id, offered, oracle))
        execution.turns += 1
        execution.count_tokens(response.prompt_tokens, response.completion_tokens)
        messages.append(ChatMessage("assistant", response.text, response.tool_calls))
        actions = (
            [Action("tool_call", c.name, c.arguments, c.call_id) for c in response.tool_calls]
            if protocol == "native"
            else parse_actions(response.text)
        )
        signalled = signals_completion(response.text)
        execution.completion_signalled |= signalled
        if signalled and _all_required_succeeded(task, simulator):
            execution.completed = True
            break
        if not actions and not signalled:
            execution.format_errors += 1
            messages.append(ChatMessage("user", FORMAT_HELP))
        messages.extend(_act(actions, simulator, protocol, registry_))
        execution.stopped_by = guard(simulator.calls)
        if execution.stopped_by:
            break
    execution.hit_max_turns = execution.turns >= max_turns and not (
        execution.completed or execution.stopped_by
    )
    execution.results = simulator.calls
    execution.transcript = [message_json(message) for message in messages]
    return _outcome(
        task,
        execution,
        correct,
        similarity or default_similarity(registry_),
    )


async def _run_workflowbench(
    client: ModelClient,
    task: Task,
    prompt_type: str,
    test_id: str,
    shown: tuple[str, ...],
    simulator: ToolSimulator,
    max_turns: int,
    ranker: ToolRanker,
    similarity: ToolSimilarity,
) -> TestOutcome:
    """The WorkflowBench suite's test: its system and user prompt, its turn rules, its scores.

    As WorkflowBench's batch runner does, adherence is measured against the workflow it used
    for the prompt: the shown plan (the flawed one for flawed prompts), the correct one when
    no plan is shown (docs/SCORING.md says why that rule is questionable and kept).
    """
    tools = simulator.tools
    correct = tuple(step.tool for step in correct_plan(task))
    expected = shown or correct
    messages = [
        ChatMessage("system", SYSTEM_PROMPT),
        ChatMessage("user", user_prompt(task, prompt_type, shown)),
    ]
    # WorkflowBench shows plan steps without notes, so a sim reads none
    oracle = TaskOracle(
        correct,
        shown,
        prompt_type,
        task.task_type,
        task.difficulty,
        tool_names=tuple(tools),
        workflowbench=True,
        tool_dependencies=tuple((tool.name, tool.dependencies) for tool in tools.values()),
    )
    execution = Execution()
    execution.transcript = await converse(
        client,
        task,
        messages,
        test_id=test_id,
        oracle=oracle,
        simulator=simulator,
        tools=tools,
        ranker=ranker,
        max_turns=max_turns,
        execution=execution,
    )
    execution.hit_max_turns = execution.turns >= max_turns and not (
        execution.completed or execution.stopped_by
    )
    execution.results = simulator.calls
    return _outcome(task, execution, expected, similarity)


def workflowbench_plan(task: Task, prompt_type: str, plan: tuple[PlanStep, ...]) -> tuple[str, ...]:
    """The tools a WorkflowBench prompt shows: the plan's, but semantic_drift's unchanged.

    WorkflowBench's batch runner has no embedding neighbours for its drift, so its
    ``semantic_drift`` plan is the correct one; the WorkflowBench suite keeps that.
    """
    if prompt_type == "flawed_semantic_drift":
        return tuple(step.tool for step in correct_plan(task))
    return tuple(step.tool for step in plan)


def _all_required_succeeded(task: Task, simulator: ToolSimulator) -> bool:
    succeeded = {result.tool for result in simulator.calls if result.success}
    return bool(task.required_tools) and set(task.required_tools) <= succeeded


def _act(
    actions: list[Action],
    simulator: ToolSimulator,
    protocol: ToolProtocol,
    tools: Mapping[str, Tool],
) -> list[ChatMessage]:
    replies: list[ChatMessage] = []
    for action in actions:
        if action.kind == "tool_search":
            found = (
                ", ".join(
                    f"{t.name}: {t.description}"
                    for t in search_tools(action.argument, tools=tools)
                    if t.name in tools
                )
                or "nothing"
            )
            text = f"Search results: {found}"
        elif action.kind == "tool_info":
            tool = tools.get(action.argument)
            text = (
                f"{tool.name}: {tool.description} Parameters: "
                + ", ".join(
                    f"{p.name} ({p.type}{'' if p.required else ', optional'})"
                    for p in tool.parameters
                )
                if tool
                else f"No tool named '{action.argument}'."
            )
        else:
            text = simulator.call(action.argument, action.parameters).render()
        if protocol == "native" and action.call_id:
            replies.append(ChatMessage("tool", text, tool_call_id=action.call_id))
        else:
            replies.append(ChatMessage("user", text))
    return replies


def _outcome(
    task: Task, execution: Execution, expected_plan: tuple[str, ...], similarity: ToolSimilarity
) -> TestOutcome:
    calls = [(result.tool, result.success) for result in execution.results]
    scores = score(
        task.required_tools,
        calls,
        expected_plan=expected_plan,
        task_type=task.task_type,
        completion_signalled=execution.completion_signalled,
        similarity=similarity,
    )
    category = None
    if scores.status != "full_success":
        category = classify(
            task.required_tools,
            [
                CallOutcome(r.tool, r.success, r.error_code, r.dependency_met)
                for r in execution.results
            ],
            format_errors=execution.format_errors,
            hit_max_turns=execution.hit_max_turns,
            completed=execution.completed,
        )
    return TestOutcome(task, execution, scores, category)


__all__ = [
    "FAILURE_STREAK",
    "LOOP_LIMIT",
    "MAX_SUCCESSFUL_CALLS",
    "Action",
    "Execution",
    "TestOutcome",
    "ToolCall",
    "ToolProtocol",
    "parse_actions",
    "run_test",
]
