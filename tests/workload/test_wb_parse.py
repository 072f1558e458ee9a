"""WorkflowBench's reply rules (``wb_parse``) on replies of our own, one rule per test."""

from __future__ import annotations

from runbench.workload.wb_parse import format_issues, match_tool, resolve_calls, wb_action

# registry order matters: the substring rule takes the first tool that matches
TOOLS = [
    "file_operations_reader",
    "file_operations_writer",
    "data_processing_parser",
    "network_fetcher",
    "data_processing_validator",
]


def _act(reply: str, *, turn: int = 1, executions: int = 0, done: bool = False) -> str:
    return wb_action(reply, TOOLS, turn=turn, executions=executions, required_succeeded=done).kind


def test_names_match_exactly_then_ignoring_case_then_as_the_first_substring() -> None:
    assert match_tool("network_fetcher", TOOLS) == "network_fetcher"
    assert match_tool("File_Operations_Reader", TOOLS) == "file_operations_reader"
    assert match_tool("reader", TOOLS) == "file_operations_reader"
    # the body contains a name: the first registry tool contained in it wins
    assert match_tool('network_fetcher\n{"source": "x"}', TOOLS) == "network_fetcher"
    # "operations" is in both file tools: registry order decides
    assert match_tool("operations", TOOLS) == "file_operations_reader"
    assert match_tool("spreadsheet_magic", TOOLS) is None


def test_every_closed_call_resolves_in_order_and_unknown_or_unclosed_ones_are_dropped() -> None:
    reply = (
        "<tool_call>reader</tool_call> <tool_call>nothing_like_it</tool_call>"
        "<tool_call>network_fetcher</tool_call> <tool_call>data_processing_parser"
    )
    assert resolve_calls(reply, TOOLS) == ("file_operations_reader", "network_fetcher")


def test_a_search_wins_over_everything_else_in_the_reply() -> None:
    action = wb_action(
        "<tool_search>read files</tool_search><tool_call>network_fetcher</tool_call> "
        "TASK_COMPLETED",
        TOOLS,
        turn=3,
        executions=2,
        required_succeeded=True,
    )
    assert (action.kind, action.searches, action.calls) == ("search", ("read files",), ())


def test_tool_info_comes_before_calls() -> None:
    action = wb_action(
        "<tool_info> network_fetcher </tool_info><tool_call>network_fetcher</tool_call>",
        TOOLS,
        turn=0,
        executions=0,
        required_succeeded=False,
    )
    assert (action.kind, action.infos) == ("tool_info", ("network_fetcher",))


def test_parameters_are_never_read_and_every_call_of_a_reply_runs() -> None:
    action = wb_action(
        '<tool_call>network_fetcher {"url": 1}</tool_call>\n'
        "<tool_call>Data_Processing_Parser</tool_call>",
        TOOLS,
        turn=0,
        executions=0,
        required_succeeded=False,
    )
    assert (action.kind, action.calls) == ("execute", ("network_fetcher", "data_processing_parser"))


def test_a_long_reply_without_any_action_is_no_action_and_a_short_one_is_nothing() -> None:
    assert _act("I am thinking about which of the tools would fit this task best.", turn=0) == (
        "no_action"
    )
    assert _act("Thinking.", turn=0) == "none"
    # an unknown name in a long reply is no call at all
    assert _act("<tool_call>spreadsheet_magic_for_everyone_here</tool_call> and more", turn=0) == (
        "no_action"
    )


def test_the_format_check_starts_on_the_second_turn_and_is_as_loose_as_workflowbench() -> None:
    short = "Please call it."  # <= 50 characters, no action
    assert _act(short, turn=0) == "none"
    assert _act(short, turn=1) == "format_issue"  # "call … t": "t" is in a tool name
    issues = format_issues("<tool_search>read files", TOOLS, turn=1, executions=0)
    assert any("no <tool_call> found" in issue for issue in issues)
    assert format_issues("ok", TOOLS, turn=5, executions=0) == (
        "No tools executed after multiple turns",
    )
    assert format_issues("ok", TOOLS, turn=5, executions=1) == ()


def test_completion_counts_only_once_every_required_tool_succeeded() -> None:
    assert _act("TASK_COMPLETED", turn=0, done=True) == "complete"
    assert _act("TASK_COMPLETED", turn=0, done=False) == "none"
    # a completing reply's calls are not run
    action = wb_action(
        "<tool_call>network_fetcher</tool_call> task completed",
        TOOLS,
        turn=0,
        executions=3,
        required_succeeded=True,
    )
    assert (action.kind, action.completion_signal) == ("complete", True)


def test_a_format_issue_is_checked_before_completion_as_workflowbench_does() -> None:
    # "executed" flags the format check (its one-letter capture is in a tool name), so the
    # completion below is not taken on turn two or later: WorkflowBench's order, kept
    reply = "All steps executed. TASK_COMPLETED"
    assert _act(reply, turn=0, done=True) == "complete"
    assert _act(reply, turn=1, done=True) == "format_issue"
