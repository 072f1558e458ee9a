"""Scoring one execution against the task's correct workflow (for flawed prompts too).

With R the required tools in order, S the tools whose calls succeeded in call order, and C all
calls:

    coverage       = |set(R) ∩ set(S)| / |R|                      (tool_coverage_rate)
    order          = LCS(R, S) / |R|
    call_success   = |S| / |C|          (0 when no call was made)
    exact          = 1 if S with consecutive repeats removed equals R, else 0
    workflow_score = 0.4·coverage + 0.3·order + 0.2·call_success + 0.1·exact

    achievement    = coverage if the model said TASK_COMPLETED, else 0.5·coverage
    quality_score  = max(0, 1 − 0.1·format_errors − 0.5·redundant_calls / max(1, |C|))
    phase2_score   = 0.7·achievement + 0.3·quality_score
    final_score    = 0.5·workflow_score + 0.5·phase2_score

where redundant_calls counts successful calls of a tool that had already succeeded. Status:
``full_success`` when workflow ≥ 0.8 and phase2 ≥ 0.8; ``partial_success`` when either ≥ 0.5;
else ``failure``. docs/SCORING.md repeats these formulas with a worked example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FULL_THRESHOLD = 0.8
PARTIAL_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Scores:
    workflow_score: float
    phase2_score: float
    quality_score: float
    final_score: float
    tool_coverage_rate: float
    status: str


def longest_common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for index, other in enumerate(b):
            current.append(
                previous[index] + 1 if item == other else max(previous[index + 1], current[index])
            )
        previous = current
    return previous[-1]


def _without_repeats(tools: Sequence[str]) -> list[str]:
    return [tool for index, tool in enumerate(tools) if index == 0 or tools[index - 1] != tool]


def score(
    required: Sequence[str],
    calls: Sequence[tuple[str, bool]],
    *,
    completed: bool,
    format_errors: int,
) -> Scores:
    """Scores of one execution; ``calls`` is (tool, succeeded) in call order."""
    succeeded = [tool for tool, ok in calls if ok]
    coverage = len(set(required) & set(succeeded)) / len(required) if required else 0.0
    order = longest_common_subsequence(required, succeeded) / len(required) if required else 0.0
    call_success = len(succeeded) / len(calls) if calls else 0.0
    exact = 1.0 if _without_repeats(succeeded) == list(required) else 0.0
    workflow = 0.4 * coverage + 0.3 * order + 0.2 * call_success + 0.1 * exact
    redundant = len(succeeded) - len(set(succeeded))
    quality = max(0.0, 1.0 - 0.1 * format_errors - 0.5 * redundant / max(1, len(calls)))
    achievement = coverage if completed else 0.5 * coverage
    phase2 = 0.7 * achievement + 0.3 * quality
    final = 0.5 * workflow + 0.5 * phase2
    return Scores(
        workflow_score=round(workflow, 6),
        phase2_score=round(phase2, 6),
        quality_score=round(quality, 6),
        final_score=round(final, 6),
        tool_coverage_rate=round(coverage, 6),
        status=status_of(workflow, phase2),
    )


def status_of(workflow: float, phase2: float) -> str:
    if workflow >= FULL_THRESHOLD and phase2 >= FULL_THRESHOLD:
        return "full_success"
    if workflow >= PARTIAL_THRESHOLD or phase2 >= PARTIAL_THRESHOLD:
        return "partial_success"
    return "failure"
