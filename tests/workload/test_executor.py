from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from runbench.chat import ChatResponse, ToolCall
from runbench.workload.executor import (
    FAILURE_STREAK,
    FORMAT_HELP,
    LOOP_LIMIT,
    parse_actions,
    run_test,
)
from runbench.workload.tasks import Task
from tests.fakes.scripted_client import ScriptedClient

TASK = Task("t-1", "basic_task", "very_easy", "Read and parse.", ("file_reader", "data_parser"))
TEST_ID = "0123456789abcdef0123456789abcdef"


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


def test_identical_replies_do_not_end_a_test_while_calls_succeed() -> None:
    # the old rule ended a test on three identical replies, even when the retry succeeded
    looping = _run(ScriptedClient([ChatResponse("<tool_call>file_reader</tool_call>")]))
    successes = [r.tool for r in looping.execution.results if r.success]
    assert looping.execution.stopped_by == "loop"
    assert successes[-LOOP_LIMIT:] == ["file_reader"] * LOOP_LIMIT
    assert len(successes) == LOOP_LIMIT, "the guard fires on the fifth success, not before"


def test_five_failed_calls_in_a_row_end_the_test() -> None:
    failing = _run(ScriptedClient([ChatResponse("<tool_call>teleporter</tool_call>")]))
    assert failing.execution.turns == FAILURE_STREAK
    assert failing.execution.stopped_by == "failure_streak"


def test_the_turn_limit_ends_a_varied_conversation() -> None:
    varied = [
        ChatResponse(f"<tool_call>{name}</tool_call>")
        for name in ("utility_logger", "utility_notifier") * 10
    ]
    capped = _run(ScriptedClient(varied), max_turns=4)
    assert capped.execution.turns == 4 and capped.execution.hit_max_turns
    assert capped.error_category == "max_turns_errors"


def test_an_early_completion_signal_is_ignored_until_the_required_tools_succeed() -> None:
    client = ScriptedClient(
        [
            ChatResponse("TASK_COMPLETED"),
            ChatResponse("<tool_call>file_reader</tool_call><tool_call>data_parser</tool_call>"),
            ChatResponse("The task is complete."),
        ]
    )
    outcome = _run(client)
    assert outcome.execution.turns == 3 and outcome.execution.completed
    assert outcome.scores.status == "full_success"


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(
        st.sampled_from(["file_reader", "data_parser", "teleporter", "utility_logger"]),
        min_size=1,
        max_size=12,
    ),
    rate=st.sampled_from([0.1, 0.5, 0.8, 1.0]),
)
def test_no_test_ends_early_while_calls_make_progress(script: list[str], rate: float) -> None:
    replies = [ChatResponse(f"<tool_call>{name}</tool_call>") for name in script]
    outcome = _run(ScriptedClient(replies), tool_success_rate=rate)
    execution = outcome.execution
    if execution.turns < 10 and not execution.completed:
        results = execution.results
        successes = [r.tool for r in results if r.success]
        assert not any(r.success for r in results[-FAILURE_STREAK:]) or (
            len(set(successes[-LOOP_LIMIT:])) == 1 and len(successes) >= LOOP_LIMIT
        ), execution.stopped_by


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
