"""What both executors share: the execution record, the guards, how a message is kept.

The guards are WorkflowBench's ``_should_terminate``: the last ``FAILURE_STREAK`` calls all
failed, more than ``MAX_SUCCESSFUL_CALLS`` calls succeeded, or the last ``LOOP_LIMIT`` successful
calls were the same tool (a loop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runbench.chat import ChatMessage
from runbench.workload.simulator import ToolResult

FAILURE_STREAK = 5  # WorkflowBench: five failed calls in a row end the test
MAX_SUCCESSFUL_CALLS = 15  # WorkflowBench: more successful calls than this end the test
LOOP_LIMIT = 5  # WorkflowBench: the same tool succeeding five times in a row is a loop


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

    def count_tokens(self, prompt: int | None, completion: int | None) -> None:
        """Add one reply's token counts; a count the provider did not give stays unknown."""
        if prompt is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + prompt
        if completion is not None:
            self.completion_tokens = (self.completion_tokens or 0) + completion


def guard(calls: Sequence[ToolResult]) -> str | None:
    """The WorkflowBench termination guard that holds after this turn's calls, if any."""
    if len(calls) >= FAILURE_STREAK and not any(r.success for r in calls[-FAILURE_STREAK:]):
        return "failure_streak"
    succeeded = [result.tool for result in calls if result.success]
    if len(succeeded) > MAX_SUCCESSFUL_CALLS:
        return "too_many_calls"
    if len(succeeded) >= LOOP_LIMIT and len(set(succeeded[-LOOP_LIMIT:])) == 1:
        return "loop"
    return None


def message_json(message: ChatMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        payload["tool_calls"] = [
            {"id": c.call_id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
        ]
    if message.tool_call_id:
        payload["tool_call_id"] = message.tool_call_id
    return payload


__all__ = [
    "FAILURE_STREAK",
    "LOOP_LIMIT",
    "MAX_SUCCESSFUL_CALLS",
    "Execution",
    "guard",
    "message_json",
]
