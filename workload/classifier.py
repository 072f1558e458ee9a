"""Why a test was not a full success: one model-side category per result, by fixed rules.

The rules are tried in order and the first that holds names the category, so the same transcript
always gets the same category:

1. ``tool_call_format_errors``: two or more replies had no parseable action, or no tool was
   ever called while at least one reply had none.
2. ``timeout_errors``: a simulated tool call failed with ``TIMEOUT`` and a required tool never
   succeeded.
3. ``max_turns_errors``: the turn limit ended the conversation before an accepted completion
   (WorkflowBench accepts one only once every required tool has succeeded).
4. ``tool_selection_errors``: a required tool was never called and some other tool was.
5. ``parameter_config_errors``: a call failed with ``INVALID_INPUT``.
6. ``sequence_order_errors``: every required tool succeeded, but not in the required order.
7. ``dependency_errors``: a call failed because its dependency had not succeeded before it.
8. ``other_errors``: anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runbench.workload.scorer import longest_common_subsequence


@dataclass(frozen=True, slots=True)
class CallOutcome:
    tool: str
    success: bool
    error_code: str | None = None
    dependency_met: bool = True


def classify(
    required: Sequence[str],
    calls: Sequence[CallOutcome],
    *,
    format_errors: int,
    hit_max_turns: bool,
    completed: bool,
) -> str:
    called = {call.tool for call in calls}
    succeeded = [call.tool for call in calls if call.success]
    codes = {call.error_code for call in calls if not call.success}
    if format_errors >= 2 or (not calls and format_errors):
        return "tool_call_format_errors"
    if "TIMEOUT" in codes and not set(required) <= set(succeeded):
        return "timeout_errors"
    if hit_max_turns and not completed:
        return "max_turns_errors"
    if any(tool not in called for tool in required) and called - set(required):
        return "tool_selection_errors"
    if "INVALID_INPUT" in codes:
        return "parameter_config_errors"
    if set(required) <= set(succeeded) and longest_common_subsequence(required, succeeded) < len(
        required
    ):
        return "sequence_order_errors"
    if any(not call.success and not call.dependency_met for call in calls):
        return "dependency_errors"
    return "other_errors"
