"""What WorkflowBench's executor does with one model reply: a pure function, rule for rule.

WorkflowBench (``interactive_executor.py``, ``InteractiveExecutor.execute_interactive``) reads a
reply in a fixed order, and the first step that fires decides the turn:

1. ``search`` — any ``<tool_search>…</tool_search>`` pair (``_extract_tool_searches``): every
   query is answered and nothing else in the reply runs, not even a ``<tool_call>`` beside it;
2. ``tool_info`` — any ``<tool_info>…</tool_info>`` pair (``_extract_tool_info_requests``);
3. ``no_action`` — a reply longer than 50 characters with no resolved call, no search, no info
   request and no completion signal: quick help, one format error;
4. ``format_issue`` — from the second turn on, a reply with no resolved call that
   ``_detect_tool_call_format_issues`` flags (see ``format_issues``): format help, one error;
5. ``complete`` — every required tool has succeeded and the reply signals completion
   (``_check_completion_signal``); calls in the same reply are not run;
6. ``execute`` — the resolved calls, **all of them, in order** (``_execute_tools_with_feedback``
   runs each one although the prompt asks for one per reply; WorkflowBench's own logs show
   replies with three and four calls executed in one turn);
7. ``none`` — nothing of the above: WorkflowBench sends nothing back and, a quirk kept here,
   does not add the reply to the conversation the model sees next.

Names in ``<tool_call>`` tags resolve as ``_parse_tool_calls`` and ``_fuzzy_match_tool`` do: the
stripped tag body as written, else the first registry tool equal to it ignoring case, else the
first registry tool (in registry order) whose name contains the body or is contained in it, both
lower-cased. The body is the whole text between the tags, so ``name {"p": 1}`` or a name followed
by JSON on the next line resolves to the first tool whose name it contains: parameters are never
read and never required. A name that resolves to nothing is dropped silently; an unclosed tag is
no tag at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from runbench.workload.scorer import signals_completion

ActionKind = Literal[
    "search", "tool_info", "no_action", "format_issue", "complete", "execute", "none"
]

# replies at most this long with no action get no quick help (WorkflowBench: ``len(response) > 50``)
NO_ACTION_MIN_LENGTH = 50
# from this turn (0-based) on, a reply with no executions so far is a format issue by itself
NO_EXECUTION_TURN = 5
# how many registry tools (in registry order) the "mentioned but not called" check looks for
MENTION_CHECK_TOOLS = 20

_SEARCH = re.compile(r"<tool_search>(.*?)</tool_search>", re.DOTALL)
_INFO = re.compile(r"<tool_info>(.*?)</tool_info>", re.DOTALL)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
# the shapes of an attempted tool use WorkflowBench looks for, matched ignoring case
_ATTEMPT_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"use[\s\w]*tool[\s\w]*([a-zA-Z_]+)",
        r"call[\s\w]*([a-zA-Z_]+)",
        r"execute[\s\w]*([a-zA-Z_]+)",
        r"run[\s\w]*([a-zA-Z_]+)",
        r"invoke[\s\w]*([a-zA-Z_]+)",
        r"\b([a-zA-Z_]+)\(.*\)",
        r"<([a-zA-Z_]+)>",
        r"\[([a-zA-Z_]+)\]",
    )
)
_IDENTIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_NAME_SUFFIXES = ("er", "or", "manager", "handler", "service", "client", "api", "tool")
_NAME_PREFIXES = ("get", "set", "create", "delete", "update", "send", "fetch", "parse")
_INTENT_PHRASES = ("need to", "will use", "should use", "let me", "i will", "going to")


@dataclass(frozen=True, slots=True)
class WbAction:
    """The step WorkflowBench takes on one reply, and what the reply held.

    ``calls`` are resolved registry names (what would run on ``execute``); ``searches`` and
    ``infos`` the stripped tag bodies; ``format_issues`` the reasons recorded on
    ``format_issue``; ``completion_signal`` whether the reply used a completion phrase at all.
    """

    kind: ActionKind
    searches: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()
    format_issues: tuple[str, ...] = ()
    completion_signal: bool = False

    @property
    def counts_format_error(self) -> bool:
        """Whether WorkflowBench adds one to ``format_error_count`` for this reply."""
        return self.kind in ("no_action", "format_issue")


def match_tool(text: str, tool_names: Sequence[str]) -> str | None:
    """The registry tool a ``<tool_call>`` body names, by WorkflowBench's three rules, or None."""
    if text in tool_names:
        return text
    lowered = text.lower()
    for name in tool_names:
        if name.lower() == lowered:
            return name
    for name in tool_names:
        candidate = name.lower()
        if lowered in candidate or candidate in lowered:
            return name
    return None


def resolve_calls(reply: str, tool_names: Sequence[str]) -> tuple[str, ...]:
    """Every closed ``<tool_call>`` tag's resolved tool, in order; unresolved ones are dropped."""
    resolved = (match_tool(body.strip(), tool_names) for body in _CALL.findall(reply))
    return tuple(name for name in resolved if name is not None)


def format_issues(
    reply: str, tool_names: Sequence[str], *, turn: int, executions: int
) -> tuple[str, ...]:
    """Why WorkflowBench's ``_detect_tool_call_format_issues`` flags a reply with no resolved call.

    Four checks, all kept as they run (each is loose, and the first fires on most prose: its
    patterns end in a one-letter-or-more capture, and a single letter "matches" any tool name
    containing it): an attempted tool use in another shape; an unanswered ``<tool_search>``
    without ``<tool_call>``; an intent phrase beside one of the first twenty registry tools'
    names; no tool run at all from the sixth turn on. ``turn`` is 0-based; the first turn is
    never flagged.
    """
    if turn < 1:
        return ()
    issues: list[str] = []
    for pattern in _ATTEMPT_PATTERNS:
        for match in pattern.findall(reply):
            name = match.strip()
            if _is_likely_tool_name(name, tool_names):
                issues.append(f"Detected potential tool '{name}' in incorrect format")
    if "<tool_search>" in reply and "<tool_call>" not in reply:
        issues.append(
            "Used <tool_search> but no <tool_call> found - need to EXECUTE tools after searching"
        )
    lowered = reply.lower()
    for phrase in _INTENT_PHRASES:
        for name in tool_names[:MENTION_CHECK_TOOLS]:
            if phrase in lowered and name.lower() in lowered:
                issues.append(f"Mentioned using '{name}' but no proper tool call found")
                break
    if executions == 0 and turn >= NO_EXECUTION_TURN:
        issues.append("No tools executed after multiple turns")
    return tuple(issues)


def _is_likely_tool_name(name: str, tool_names: Sequence[str]) -> bool:
    if name in tool_names or match_tool(name, tool_names) is not None:
        return True
    if _IDENTIFIER.match(name) and len(name) > 2:
        lowered = name.lower()
        return lowered.endswith(_NAME_SUFFIXES) or lowered.startswith(_NAME_PREFIXES)
    return False


def wb_action(
    reply: str,
    tool_names: Sequence[str],
    *,
    turn: int,
    executions: int,
    required_succeeded: bool,
) -> WbAction:
    """The step WorkflowBench's executor takes on ``reply`` (see the module docstring).

    ``tool_names`` is the registry's names in file order (matching depends on it); ``turn`` is
    0-based; ``executions`` counts tool runs so far, failed ones included; ``required_succeeded``
    is whether every required tool has succeeded at least once (False for a task without any,
    as WorkflowBench has it).
    """
    searches = tuple(query.strip() for query in _SEARCH.findall(reply))
    if searches:
        return WbAction("search", searches=searches)
    infos = tuple(name.strip() for name in _INFO.findall(reply))
    if infos:
        return WbAction("tool_info", infos=infos)
    calls = resolve_calls(reply, tool_names)
    completion = signals_completion(reply)
    if len(reply) > NO_ACTION_MIN_LENGTH and not calls and not completion:
        return WbAction("no_action")
    if not calls:
        issues = format_issues(reply, tool_names, turn=turn, executions=executions)
        if issues:
            return WbAction("format_issue", format_issues=issues, completion_signal=completion)
    if required_succeeded and completion:
        return WbAction("complete", calls=calls, completion_signal=True)
    if calls:
        return WbAction("execute", calls=calls, completion_signal=completion)
    return WbAction("none", completion_signal=completion)


__all__ = [
    "ActionKind",
    "WbAction",
    "format_issues",
    "match_tool",
    "resolve_calls",
    "wb_action",
]
