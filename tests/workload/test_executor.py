from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from runbench.clients.base import ChatRequest, ChatResponse, ToolCall
from runbench.workload.executor import FORMAT_HELP, parse_actions, run_test
from runbench.workload.tasks import Task

TASK = Task("t-1", "basic_task", "very_easy", "Read and parse.", ("file_reader", "data_parser"))
TEST_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class ScriptedClient:
    """Replies from a script, one per turn; records every request it got."""

    replies: list[ChatResponse]
    provider: str = "test"
    deployment: str = "scripted"
    requests: list[ChatRequest] = field(default_factory=list)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        return self.replies[min(len(self.requests) - 1, len(self.replies) - 1)]


def _run(client: ScriptedClient, **kwargs: object):  # type: ignore[no-untyped-def]
    arguments = {"prompt_type": "optimal", "test_id": TEST_ID, "tool_success_rate": 1.0, **kwargs}
    return asyncio.run(run_test(client, TASK, **arguments))  # type: ignore[arg-type]


def test_parse_actions_reads_several_calls_parameters_and_ignores_broken_tags() -> None:
    text = (
        "<tool_search>read files</tool_search> then "
        '<tool_call>file_reader {"path": "a.csv"}</tool_call>'
        "<tool_call>data_parser</tool_call><tool_call>data_filter {not json}</tool_call>"
        "<tool_info>file_reader</tool_info><tool_call>unclosed"
    )
    actions = parse_actions(text)
    assert [(a.kind, a.argument) for a in actions] == [
        ("tool_search", "read files"),
        ("tool_call", "file_reader"),
        ("tool_call", "data_parser"),
        ("tool_call", "data_filter"),
        ("tool_info", "file_reader"),
    ]
    assert actions[1].parameters == {"path": "a.csv"}
    assert actions[2].parameters is None and actions[3].parameters == {}


def test_a_correct_run_is_a_full_success() -> None:
    client = ScriptedClient(
        [
            ChatResponse("<tool_call>file_reader</tool_call><tool_call>data_parser</tool_call>"),
            ChatResponse("TASK_COMPLETED"),
        ]
    )
    outcome = _run(client)
    assert outcome.scores.status == "full_success" and outcome.error_category is None
    assert outcome.execution.turns == 2 and outcome.execution.completed


def test_a_reply_without_action_gets_format_help_and_counts() -> None:
    client = ScriptedClient(
        [
            ChatResponse("hmm, let me think"),
            ChatResponse("<tool_call>nope</tool_call>"),
            ChatResponse("TASK_COMPLETED"),
        ]
    )
    outcome = _run(client)
    assert outcome.execution.format_errors == 1
    assert client.requests[1].messages[-1].content == FORMAT_HELP
    assert "TOOL_NOT_FOUND" in client.requests[2].messages[-1].content
    assert outcome.scores.status == "failure"


def test_the_loop_stops_at_max_turns_and_on_hopeless_repetition() -> None:
    looping = _run(
        ScriptedClient([ChatResponse("<tool_call>file_reader</tool_call>")]), max_turns=10
    )
    assert looping.execution.turns == 3, "three identical replies in a row end the test"
    varied = [
        ChatResponse(f'<tool_call>utility_logger {{"message": "{i}"}}</tool_call>')
        for i in range(20)
    ]
    capped = _run(ScriptedClient(varied), max_turns=4)
    assert capped.execution.turns == 4 and capped.execution.hit_max_turns
    assert capped.error_category == "max_turns_errors"


def test_native_protocol_offers_functions_and_answers_with_tool_messages() -> None:
    client = ScriptedClient(
        [
            ChatResponse(
                "",
                (ToolCall("c1", "file_reader", {"path": "a"}), ToolCall("c2", "data_parser", None)),
            ),
            ChatResponse("TASK_COMPLETED"),
        ]
    )
    outcome = _run(client, protocol="native")
    assert len(client.requests[0].tools) == 30
    tool_messages = [m for m in client.requests[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == ["c1", "c2"]
    assert outcome.scores.status == "full_success"
