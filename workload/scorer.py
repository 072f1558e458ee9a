"""Scoring one execution as WorkflowBench does: success level, adherence, phase-2, status.

Names below are WorkflowBench's (``interactive_executor.py``, ``workflow_quality_test_flawed.py``,
``batch_test_runner.py``); docs/SCORING.md has the side-by-side table with every difference.
R = the task's required tools; P = the task's correct plan (its optimal workflow); S = the
successful calls' tools in call order; C = every call. WorkflowBench compares S with the plan the
prompt *showed*, the flawed one for flawed prompts, which rewards falling for a flaw (a model that
follows a tool_misuse plan scores full_success, one that corrects it cannot); runbench compares
with the correct plan, so flawed prompts measure what they are named for (docs/SCORING.md).

Execution level (``InteractiveExecutor._evaluate_success_detailed``):
  ``full_success`` when every tool of R succeeded and R's tools, in order of first success,
  equal R; else ``partial_success`` when at least 2 of 4 hold: (A) ≥ 60 % of R succeeded,
  (B) a successful tool's name has an output word (writer, export, …), (C) successful calls ≥
  the task type's minimum, (D) a reply signalled completion; else ``failure``.

workflow_score (``_calculate_workflow_adherence``, with expected = P, actual = S):
  0 when P or S is empty, else min(1, 0.4·coverage + 0.3·LCS(P, S)/|P| + 0.2·|S|/|C| +
  0.1·(0.2 if S == P)), coverage = |set(P) ∩ set(S)| / |set(P)|.

phase2_score (``StableScorer.calculate_stable_score``, "balanced" weights 0.5/0.5):
  achievement = 0.5·output + 0.3·progress + 0.2·required when output > 0.8, else
  0.3/0.3/0.4; output = 1 if S is non-empty; progress = min(1, |set(S)| / 2) (the scorer gets no
  execution history, so WorkflowBench's fallback with the ``basic_task`` minimum applies to every
  task type); required = mean over R of ``ToolSimilarity.coverage_of``.
  quality = 0.4·(0.8 if S else 0) + 0.3·efficiency + 0.2·workflow_score (+ 0.1·recovery, which
  is 0 without history); efficiency = min(1, 1.2·u/|S|) if |S| ≤ 2u else 0.8·u/|S|, u = |set(S)|.
  Clamped by level: full → achievement ≥ 0.8, quality ≥ 0.7; partial → achievement ≥ 0.5;
  failure with S → both max(0.8·x, 0.2); failure without → both ×0.5.
  phase2 = 0.5·achievement + 0.5·quality (0.05 when that is 0 but S is not);
  quality_score = the clamped quality; final_score = phase2.

status (``BatchTestRunner.run_single_test``): ``full_success`` when workflow ≥ 0.8 and phase2 ≥
0.8; ``partial_success`` when either ≥ 0.5; else ``failure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runbench.workload.similarity import ToolSimilarity

FULL_THRESHOLD = 0.8
PARTIAL_THRESHOLD = 0.5
OUTPUT_WORDS = (
    "writer",
    "export",
    "save",
    "output",
    "post",
    "publish",
    "store",
    "emit",
    "notify",
    "report",
    "generate",
    "filter",
    "aggregator",
    "compressor",
)
# the executor's minimum successful calls per task type (criterion C)
EXECUTOR_MINIMUM = {
    "simple_task": 1,
    "basic_task": 2,
    "data_pipeline": 2,
    "api_integration": 2,
    "multi_stage_pipeline": 3,
}
SCORER_MINIMUM = 2  # the basic_task minimum WorkflowBench's scorer falls back to
COMPLETION_SIGNALS = (
    "task_completed",
    "task completed",
    "task is complete",
    "finished executing",
    "all steps completed",
    "workflow complete",
    "done with the task",
    "successfully completed the task",
    "task has been completed",
)


@dataclass(frozen=True, slots=True)
class Scores:
    """The scores of one execution and the level and similarity source they rest on."""

    workflow_score: float
    phase2_score: float
    quality_score: float
    final_score: float
    tool_coverage_rate: float
    status: str
    execution_level: str
    similarity_source: str


def signals_completion(text: str) -> bool:
    """Whether a reply says the task is done, by WorkflowBench's list of phrases."""
    lowered = text.lower()
    return any(signal in lowered for signal in COMPLETION_SIGNALS)


def longest_common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two tool sequences."""
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for index, other in enumerate(b):
            current.append(
                previous[index] + 1 if item == other else max(previous[index + 1], current[index])
            )
        previous = current
    return previous[-1]


def execution_level(
    required: Sequence[str],
    calls: Sequence[tuple[str, bool]],
    *,
    task_type: str,
    completion_signalled: bool,
) -> str:
    """WorkflowBench's executor-level judgement (see the module docstring)."""
    first_successes: list[str] = []
    for tool, ok in calls:
        if ok and tool in required and tool not in first_successes:
            first_successes.append(tool)
    coverage = len(set(first_successes)) / len(required) if required else 0.0
    if len(first_successes) == len(required) and first_successes == list(required):
        return "full_success"
    successes = [tool for tool, ok in calls if ok]
    criteria = (
        coverage >= 0.6,
        any(word in tool.lower() for tool in successes for word in OUTPUT_WORDS),
        len(successes) >= EXECUTOR_MINIMUM.get(task_type, 2),
        completion_signalled,
    )
    return "partial_success" if sum(criteria) >= 2 else "failure"


def workflow_adherence(expected: Sequence[str], succeeded: Sequence[str], call_count: int) -> float:
    """WorkflowBench's overall adherence of the successful tools to the shown plan."""
    if not expected or not succeeded:
        return 0.0
    coverage = len(set(expected) & set(succeeded)) / len(set(expected))
    order = longest_common_subsequence(expected, succeeded) / len(expected)
    success_rate = len(succeeded) / call_count if call_count else 0.0
    exact = 0.2 if list(succeeded) == list(expected) else 0.0
    return min(1.0, 0.4 * coverage + 0.3 * order + 0.2 * success_rate + 0.1 * exact)


def _achievement(
    required: Sequence[str], succeeded: Sequence[str], similarity: ToolSimilarity
) -> float:
    output = 1.0 if succeeded else 0.0
    progress = min(1.0, len(set(succeeded)) / SCORER_MINIMUM)
    covered = [similarity.coverage_of(tool, succeeded) for tool in required]
    required_score = sum(covered) / len(covered) if covered else 0.0
    if output > 0.8:
        return 0.5 * output + 0.3 * progress + 0.2 * required_score
    if required:
        return 0.3 * output + 0.3 * progress + 0.4 * required_score
    return 0.4 * output + 0.4 * progress + 0.2 * required_score


def _quality(succeeded: Sequence[str], workflow: float) -> float:
    unique = len(set(succeeded))
    total = len(succeeded)
    if not total:
        efficiency = 0.0
    elif total <= unique * 2:
        efficiency = min(1.0, unique / total * 1.2)
    else:
        efficiency = unique / total * 0.8
    return 0.4 * (0.8 if succeeded else 0.0) + 0.3 * efficiency + 0.2 * workflow


def phase2(
    level: str,
    required: Sequence[str],
    succeeded: Sequence[str],
    workflow: float,
    similarity: ToolSimilarity,
) -> tuple[float, float]:
    """(phase2_score, quality_score) after WorkflowBench's clamping by execution level."""
    achievement = _achievement(required, succeeded, similarity)
    quality = _quality(succeeded, workflow)
    if level == "full_success":
        achievement, quality = max(achievement, 0.8), max(quality, 0.7)
    elif level == "partial_success":
        achievement = max(achievement, 0.5)
    elif succeeded:
        achievement, quality = max(achievement * 0.8, 0.2), max(quality * 0.8, 0.2)
    else:
        achievement, quality = achievement * 0.5, quality * 0.5
    score = 0.5 * achievement + 0.5 * quality
    if score == 0.0 and succeeded:
        score = 0.05
    return score, quality


def status_of(workflow: float, phase2_score: float) -> str:
    """The recorded status, from the two scores as WorkflowBench's batch runner decides it."""
    if workflow >= FULL_THRESHOLD and phase2_score >= FULL_THRESHOLD:
        return "full_success"
    if workflow >= PARTIAL_THRESHOLD or phase2_score >= PARTIAL_THRESHOLD:
        return "partial_success"
    return "failure"


def score(
    required: Sequence[str],
    calls: Sequence[tuple[str, bool]],
    *,
    expected_plan: Sequence[str],
    task_type: str,
    completion_signalled: bool,
    similarity: ToolSimilarity,
) -> Scores:
    """Scores of one execution; ``calls`` is (tool, succeeded) in call order.

    ``expected_plan`` is the correct plan; when empty, adherence compares with R.
    """
    succeeded = [tool for tool, ok in calls if ok]
    level = execution_level(
        required, calls, task_type=task_type, completion_signalled=completion_signalled
    )
    workflow = workflow_adherence(expected_plan or required, succeeded, len(calls))
    phase2_score, quality = phase2(level, required, succeeded, workflow, similarity)
    coverage = len(set(required) & set(succeeded)) / len(set(required)) if required else 0.0
    return Scores(
        workflow_score=round(workflow, 6),
        phase2_score=round(phase2_score, 6),
        quality_score=round(quality, 6),
        final_score=round(phase2_score, 6),
        tool_coverage_rate=round(coverage, 6),
        status=status_of(workflow, phase2_score),
        execution_level=level,
        similarity_source=similarity.source,
    )
