"""The multi-turn loop of one test: model replies, tools answer, until done or out of turns.

Protocol ``tags``: the model acts with ``<tool_search>``, ``<tool_info>`` and ``<tool_call>`` tags
(several per reply are allowed, a call may carry JSON parameters) and says ``TASK_COMPLETED``.
Protocol ``native``: tools are offered as OpenAI functions and calls come back as ``tool_calls``.
Both use the same simulator and the same scoring. A reply with no action and no completion
gets a format-help message and counts a format error. The loop ends on completion, at
``max_turns``, or after the same reply three times in a row (hopeless repetition).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from runbench.clients.base import ChatMessage, ChatRequest, ModelClient, TaskOracle, ToolCall
from runbench.workload.classifier import CallOutcome, classify
from runbench.workload.prompts import build_prompt
from runbench.workload.scorer import Scores, score
from runbench.workload.simulator import ToolResult, ToolSimulator
from runbench.workload.tasks import Task
from runbench.workload.tools import registry, search_tools

Protocol = Literal["tags", "native"]
COMPLETION_WORD = "TASK_COMPLETED"
DEFAULT_MAX_TURNS = 10
REPEAT_LIMIT = 3
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
    completed: bool = False
    hit_max_turns: bool = False
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
    protocol: Protocol = "tags",
    max_turns: int = DEFAULT_MAX_TURNS,
) -> TestOutcome:
    """Run one test to its end and score it. Raises what the client raises (ProviderError)."""
    prompt = build_prompt(task, prompt_type, test_id, protocol)
    messages = [ChatMessage("system", prompt.system), ChatMessage("user", prompt.user)]
    oracle = TaskOracle(task.required_tools, tuple(step.tool for step in prompt.plan), prompt_type)
    tools = (
        tuple(tool.openai_function() for tool in registry().values())
        if protocol == "native"
        else ()
    )
    simulator = ToolSimulator(test_id, tool_success_rate)
    execution = Execution()
    recent: list[str] = []
    while execution.turns < max_turns:
        response = await client.complete(ChatRequest(tuple(messages), test_id, tools, oracle))
        execution.turns += 1
        _count_tokens(execution, response.prompt_tokens, response.completion_tokens)
        messages.append(ChatMessage("assistant", response.text, response.tool_calls))
        actions = (
            [Action("tool_call", c.name, c.arguments, c.call_id) for c in response.tool_calls]
            if protocol == "native"
            else parse_actions(response.text)
        )
        completed = COMPLETION_WORD in response.text
        if not actions and not completed:
            execution.format_errors += 1
            messages.append(ChatMessage("user", FORMAT_HELP))
        messages.extend(_act(actions, simulator, protocol))
        if completed:
            execution.completed = True
            break
        recent = [*recent[-(REPEAT_LIMIT - 1) :], response.text + repr(response.tool_calls)]
        if len(recent) == REPEAT_LIMIT and len(set(recent)) == 1:
            break
    execution.hit_max_turns = execution.turns >= max_turns and not execution.completed
    execution.results = simulator.calls
    execution.transcript = [_message_json(message) for message in messages]
    return _outcome(task, execution)


def _act(actions: list[Action], simulator: ToolSimulator, protocol: Protocol) -> list[ChatMessage]:
    replies: list[ChatMessage] = []
    for action in actions:
        if action.kind == "tool_search":
            found = (
                ", ".join(f"{t.name}: {t.description}" for t in search_tools(action.argument))
                or "nothing"
            )
            text = f"Search results: {found}"
        elif action.kind == "tool_info":
            tool = registry().get(action.argument)
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


def _outcome(task: Task, execution: Execution) -> TestOutcome:
    calls = [(result.tool, result.success) for result in execution.results]
    scores = score(
        task.required_tools,
        calls,
        completed=execution.completed,
        format_errors=execution.format_errors,
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


__all__ = ["Action", "Execution", "TestOutcome", "ToolCall", "parse_actions", "run_test"]
