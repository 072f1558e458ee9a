"""One test's conversation under WorkflowBench's executor rules (the WorkflowBench suite).

``execute_interactive`` turn by turn: the reply's step comes from ``wb_parse.wb_action``, the
texts sent back from ``wb_feedback``, tool outcomes from ``ToolSimulator.call_workflowbench``.
Search and tool-info turns, quick help and format help answer and go on to the next turn; a
completing reply (every required tool succeeded, completion phrase) ends the test; an executing
turn runs every resolved call and then checks the termination guards (``turns.guard``); a
reply with none of these gets no answer and, as in WorkflowBench, is not added to the
conversation the model sees next (the transcript keeps it, marked ``"seen": false``).
"""

from __future__ import annotations

from typing import Any

from runbench.chat import ChatMessage, ChatRequest, ModelClient, TaskOracle
from runbench.workload.simulator import ToolSimulator
from runbench.workload.tasks import Task
from runbench.workload.tools import ToolRegistry
from runbench.workload.turns import Execution, guard, message_json
from runbench.workload.wb_feedback import (
    ToolRanker,
    execution_feedback,
    format_help,
    no_action_help,
    outcome_line,
    search_results,
    tool_details,
)
from runbench.workload.wb_parse import wb_action


async def converse(
    client: ModelClient,
    task: Task,
    messages: list[ChatMessage],
    *,
    test_id: str,
    oracle: TaskOracle,
    simulator: ToolSimulator,
    tools: ToolRegistry,
    ranker: ToolRanker,
    max_turns: int,
    execution: Execution,
) -> list[dict[str, Any]]:
    """Run the turns, filling ``execution`` (an ``executor.Execution``); return the transcript.

    ``messages`` starts with the system and user prompt and grows as WorkflowBench's
    ``conversation`` does.
    """
    names = list(tools)
    required = task.required_tools
    transcript = [message_json(message) for message in messages]
    while execution.turns < max_turns:
        turn = execution.turns
        response = await client.complete(ChatRequest(tuple(messages), test_id, (), oracle))
        execution.turns += 1
        execution.count_tokens(response.prompt_tokens, response.completion_tokens)
        succeeded = {result.tool for result in simulator.calls if result.success}
        action = wb_action(
            response.text,
            names,
            turn=turn,
            executions=len(simulator.calls),
            required_succeeded=bool(required) and set(required) <= succeeded,
        )
        execution.completion_signalled |= action.completion_signal
        reply = ChatMessage("assistant", response.text)
        if action.kind == "complete":
            execution.completed = True
            transcript.append({**message_json(reply), "action": action.kind})
            break
        if action.kind == "none":
            transcript.append({**message_json(reply), "action": action.kind, "seen": False})
            execution.stopped_by = guard(simulator.calls)
            if execution.stopped_by:
                break
            continue
        if action.kind == "search":
            answer = await search_results(action.searches, ranker, tools)
        elif action.kind == "tool_info":
            answer = tool_details(action.infos, tools)
        elif action.kind == "no_action":
            answer = no_action_help(response.text, required)
        elif action.kind == "format_issue":
            answer = format_help(response.text, required, names)
        else:
            outcomes = [simulator.call_workflowbench(name) for name in action.calls]
            answer = execution_feedback(
                [outcome_line(r.tool, r.success, r.output, r.error_message) for r in outcomes],
                sum(result.success for result in simulator.calls),
                task.task_type,
            )
        if action.counts_format_error:
            execution.format_errors += 1
        user = ChatMessage("user", answer)
        messages.extend((reply, user))
        transcript.extend(({**message_json(reply), "action": action.kind}, message_json(user)))
        if action.kind == "execute":
            execution.stopped_by = guard(simulator.calls)
            if execution.stopped_by:
                break
    return transcript


__all__ = ["converse"]
