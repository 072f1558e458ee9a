"""The multi-turn loop of one test: model replies, tools answer, until done or stopped.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from runbench.chat import ChatMessage, ChatRequest, ModelClient, TaskOracle, ToolCall
from runbench.workload.classifier import CallOutcome, classify
from runbench.workload.prompts import build_prompt, correct_plan
from runbench.workload.scorer import Scores, score, signals_completion
from runbench.workload.similarity import ToolSimilarity, default_similarity
from runbench.workload.simulator import ToolResult, ToolSimulator
from runbench.workload.tasks import Task
from runbench.workload.tools import Tool, ToolRegistry, builtin_registry, search_tools

ToolProtocol = Literal["tags", "native"]
COMPLETION_WORD = "TASK_COMPLETED"
DEFAULT_MAX_TURNS = 10
FAILURE_STREAK = 5  # WorkflowBench: five failed calls in a row end the test
MAX_SUCCESSFUL_CALLS = 15  # WorkflowBench: more successful calls than this end the test
LOOP_LIMIT = 5  # WorkflowBench: the same tool succeeding five times in a row is a loop
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


@dataclass(slots=True)
class Execution:
    """What happened in one test's conversation."""

    turns: int = 0
    results: list[ToolResult] = field(default_factory=list)
    format_errors: int = 0
    completed: bool = False  # a completion signal was accepted (every required tool succeeded)
    completion_signalled: bool = False  # some reply signalled completion, accepted or not
    hit_max_turns: bool = False
    stopped_by: str | None = None  # the guard that ended the test, if one did
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)


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
) -> TestOutcome:
    """Run one test to its end and score it. Raises what the client raises (ProviderError).

    ``tools`` is the registry (the built-in one by default); ``similarity`` matches required
    tools with similar called ones, built once per run from an embeddings endpoint; without
    one, the deterministic fallback is used and recorded as such.
    """
    registry_ = builtin_registry() if tools is None else tools
    prompt = build_prompt(task, prompt_type, test_id, protocol, registry_)
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
        _count_tokens(execution, response.prompt_tokens, response.completion_tokens)
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
        execution.stopped_by = _guard(simulator.calls)
        if execution.stopped_by:
            break
    execution.hit_max_turns = execution.turns >= max_turns and not (
        execution.completed or execution.stopped_by
    )
    execution.results = simulator.calls
    execution.transcript = [_message_json(message) for message in messages]
    return _outcome(
        task,
        execution,
        correct,
        similarity or default_similarity(registry_),
    )


def _all_required_succeeded(task: Task, simulator: ToolSimulator) -> bool:
    succeeded = {result.tool for result in simulator.calls if result.success}
    return bool(task.required_tools) and set(task.required_tools) <= succeeded


def _guard(calls: Sequence[ToolResult]) -> str | None:
    """The WorkflowBench termination guard that holds after this turn's calls, if any."""
    if len(calls) >= FAILURE_STREAK and not any(r.success for r in calls[-FAILURE_STREAK:]):
        return "failure_streak"
    succeeded = [result.tool for result in calls if result.success]
    if len(succeeded) > MAX_SUCCESSFUL_CALLS:
        return "too_many_calls"
    if len(succeeded) >= LOOP_LIMIT and len(set(succeeded[-LOOP_LIMIT:])) == 1:
        return "loop"
    return None


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
                    for t in search_tools(action.argument)
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


def _count_tokens(execution: Execution, prompt: int | None, completion: int | None) -> None:
    if prompt is not None:
        execution.prompt_tokens = (execution.prompt_tokens or 0) + prompt
    if completion is not None:
        execution.completion_tokens = (execution.completion_tokens or 0) + completion


def _message_json(message: ChatMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        payload["tool_calls"] = [
            {"id": c.call_id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
        ]
    if message.tool_call_id:
        payload["tool_call_id"] = message.tool_call_id
    return payload


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
    "Action",
    "Execution",
    "TestOutcome",
    "ToolCall",
    "ToolProtocol",
    "parse_actions",
    "run_test",
]
