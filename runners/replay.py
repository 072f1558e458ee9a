"""A saved runbench test run again from its transcript: the model's replies, replayed.

``judge_run`` rebuilds the test a row names (its task from the library by cell and instance,
its prompt type, tool success rate, protocol and test id, which seeds every tool outcome) and
runs ``workload/executor.py:run_test`` with ``ReplayClient``, which answers each request with the
next saved assistant message. Under the rules the row was scored by, the replay is the same run;
under changed rules, the same replies are judged by the new ones. If the executor asks for more
replies than were saved, the replay answers with an empty reply and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbench.chat import ChatRequest, ChatResponse, ToolCall
from runbench.workload.executor import run_test
from runbench.workload.log_judge import Judgement
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.suite import Workload

SUCCESS_STATUSES = ("full_success", "partial_success")


class ReplayClient:
    """A model client that answers with saved replies, in order; never calls anything."""

    provider = "replay"
    deployment = "replay"

    def __init__(self, replies: Sequence[Mapping[str, Any]]) -> None:
        self._replies = list(replies)
        self._next = 0
        self.overrun = 0  # requests answered after the saved replies ran out

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self._next >= len(self._replies):
            self.overrun += 1
            return ChatResponse(text="")
        reply = self._replies[self._next]
        self._next += 1
        calls = tuple(
            ToolCall(str(call.get("id") or ""), str(call.get("name") or ""), call.get("arguments"))
            for call in reply.get("tool_calls") or ()
            if isinstance(call, dict)
        )
        return ChatResponse(text=str(reply.get("content") or ""), tool_calls=calls)

    async def aclose(self) -> None:
        """Nothing to release: no connection was ever opened."""

    @property
    def unused(self) -> int:
        """Saved replies the replay never asked for."""
        return len(self._replies) - self._next


async def judge_run(
    row: Mapping[str, Any],
    messages: Sequence[Any],
    workload: Workload,
    similarity: ToolSimilarity,
) -> Judgement | str:
    """The judgement of one saved run under the current rules, or why it cannot be judged."""
    task_type, difficulty = str(row["task_type"]), str(row["difficulty"])
    if not workload.library.has_task(task_type, difficulty):
        return "its task is not in the task library given (--tasks)"
    task = workload.library.task_for(task_type, difficulty, int(row["instance"]))
    if task.task_id != row["task_id"]:
        return "its task is not in the task library given (--tasks)"
    replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    client = ReplayClient(replies)
    outcome = await run_test(
        client,
        task,
        prompt_type=str(row["prompt_type"]),
        test_id=str(row["test_id"]),
        tool_success_rate=float(row["tool_success_rate"]),
        protocol=row.get("protocol") or "tags",
        tools=workload.tools,
        similarity=similarity,
    )
    scores = outcome.scores
    note = None
    if client.overrun or client.unused:
        note = f"replay asked for {client.overrun} reply(s) more, left {client.unused} unused"
    return Judgement(
        tool_calls=tuple(result.tool for result in outcome.execution.results),
        workflow_score=scores.workflow_score,
        phase2_score=scores.phase2_score,
        quality_score=scores.quality_score,
        final_score=scores.final_score,
        success=scores.status in SUCCESS_STATUSES,
        status=scores.status,
        replay_note=note,
    )
