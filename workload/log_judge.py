"""Judging a WorkflowBench per-test log again, under WorkflowBench's rules, without a model.

A log (``workflow_quality_results/test_logs/*_log.json``, written by WorkflowBench's
``BatchTestRunner.run_single_test``) holds the prompt sent, the conversation as the executor kept
it (``conversation_history``: the model's replies and the feedback, each with its ``turn``), every
tool run with its outcome (``execution_history``), and what WorkflowBench concluded (``result``).
``judge_log`` re-derives that conclusion from the first three:

1. **Turns** — each logged model reply goes through WorkflowBench's executor rules
   (``wb_parse.wb_action``: search, tool info, no action, format issue, completion, execute) with
   the registry's names in file order; the calls of an ``execute`` turn take the next logged
   outcomes in order (a tool's success was drawn at random when it ran, so the draw is read, not
   redrawn; a name that differs from the logged one is a replay disagreement). ``tool_calls`` are
   the replayed successful calls, as the executor's ``tool_calls``.
2. **Level** — ``scorer.execution_level`` (``_evaluate_success_detailed``) over the replayed
   calls; its completion criterion is any logged model reply with a completion phrase.
3. **Scores** — ``workflow_score`` is ``_calculate_workflow_adherence`` against the plan the
   prompt showed (``## Workflow Execution Plan``: the flawed plan for flawed prompts, as
   WorkflowBench passes the injected workflow; empty for baseline), with the execution success
   rate over every replayed run; ``phase2_score`` and ``quality_score`` are
   ``StableScorer.calculate_stable_score`` (``scorer.phase2``) with the given tool similarity;
   ``final_score`` is phase 2; ``success`` is the batch runner's verdict (either score ≥ 0.5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbench.workload.scorer import (
    execution_level,
    phase2,
    signals_completion,
    status_of,
    workflow_adherence,
)
from runbench.workload.similarity import ToolSimilarity
from runbench.workload.wb_parse import wb_action

PLAN_HEADING = "## Workflow Execution Plan"
_PLAN_STEP = re.compile(r"^\s*\d+\.\s+Execute\s+([A-Za-z0-9_]+)", re.MULTILINE)
_PLAN_END = re.compile(r"^\s*###", re.MULTILINE)
# the fields rescore compares, in the order it prints them
FIELDS = ("tool_calls", "workflow_score", "phase2_score", "quality_score", "final_score", "success")


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the rules conclude about one logged test, and whether the replay met the log."""

    tool_calls: tuple[str, ...]
    workflow_score: float
    phase2_score: float
    quality_score: float
    final_score: float
    success: bool
    status: str
    replay_note: str | None  # why the replayed runs differ from the logged ones, else None

    def value(self, field: str) -> Any:
        """The judged value of one of ``FIELDS``."""
        return getattr(self, field)


def _table(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``document[key]`` when it is a JSON object, else an empty one."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def shown_plan(prompt: str) -> tuple[str, ...]:
    """The tool sequence of the prompt's ``## Workflow Execution Plan`` (empty when none)."""
    start = prompt.find(PLAN_HEADING)
    if start < 0:
        return ()
    body = prompt[start + len(PLAN_HEADING) :]
    end = _PLAN_END.search(body)
    return tuple(_PLAN_STEP.findall(body[: end.start()] if end else body))


def _runs(history: Any) -> list[tuple[str, bool]]:
    runs = []
    for entry in history if isinstance(history, list) else ():
        if isinstance(entry, dict):
            tool = entry.get("tool", entry.get("tool_name", ""))
            runs.append((str(tool or ""), bool(entry.get("success", False))))
    return runs


def replay(
    conversation: Sequence[Mapping[str, Any]],
    logged_runs: Sequence[tuple[str, bool]],
    required: Sequence[str],
    tool_names: Sequence[str],
) -> tuple[list[tuple[str, bool]], str | None]:
    """The tool runs WorkflowBench's executor makes of these replies, with the logged outcomes."""
    runs: list[tuple[str, bool]] = []
    succeeded: set[str] = set()
    note: str | None = None
    for entry in conversation:
        if entry.get("role") != "assistant":
            continue
        turn = entry.get("turn")
        action = wb_action(
            str(entry.get("content") or ""),
            tool_names,
            turn=turn - 1 if isinstance(turn, int) and turn > 0 else 0,
            executions=len(runs),
            required_succeeded=bool(required) and all(tool in succeeded for tool in required),
        )
        if action.kind == "complete":
            break
        if action.kind != "execute":
            continue
        for call in action.calls:
            if len(runs) >= len(logged_runs):
                note = note or f"reply at turn {turn} runs {call}, beyond the logged runs"
                runs.append((call, False))
                continue
            logged, ok = logged_runs[len(runs)]
            if logged != call and note is None:
                note = f"run {len(runs) + 1}: replay runs {call}, the log {logged}"
            runs.append((call, ok))
            if ok:
                succeeded.add(call)
    if len(runs) < len(logged_runs) and note is None:
        note = f"the log has {len(logged_runs)} runs, the replay {len(runs)}"
    return runs, note


def judge_log(
    log: Mapping[str, Any], tool_names: Sequence[str], similarity: ToolSimilarity
) -> Judgement:
    """Re-judge one WorkflowBench log (see the module docstring)."""
    task = _table(log, "task_instance")
    required = [str(tool) for tool in task.get("required_tools") or ()]
    task_type = str(log.get("task_type") or task.get("task_type") or "")
    conversation = [
        entry for entry in log.get("conversation_history") or () if isinstance(entry, dict)
    ]
    runs, note = replay(conversation, _runs(log.get("execution_history")), required, tool_names)
    succeeded = [tool for tool, ok in runs if ok]
    completion = any(
        entry.get("role") == "assistant" and signals_completion(str(entry.get("content") or ""))
        for entry in conversation
    )
    level = (
        execution_level(required, runs, task_type=task_type, completion_signalled=completion)
        if required
        else "failure"
    )
    plan = shown_plan(str(log.get("prompt") or ""))
    workflow = workflow_adherence(plan, succeeded, len(runs))
    phase2_score, quality = phase2(level, required, succeeded, workflow, similarity)
    status = status_of(workflow, phase2_score)
    return Judgement(
        tool_calls=tuple(succeeded),
        workflow_score=workflow,
        phase2_score=phase2_score,
        quality_score=quality,
        final_score=phase2_score,
        success=status in ("full_success", "partial_success"),
        status=status,
        replay_note=note,
    )


def logged_values(log: Mapping[str, Any]) -> dict[str, Any]:
    """What WorkflowBench logged for each of ``FIELDS`` (None where the log has no value)."""
    result = _table(log, "result")
    values: dict[str, Any] = {}
    calls = result.get("tool_calls", log.get("extracted_tool_calls"))
    values["tool_calls"] = tuple(calls) if isinstance(calls, list) else None
    for name in FIELDS[1:-1]:
        raw = result.get(name)
        values[name] = float(raw) if isinstance(raw, int | float) else None
    success = result.get("success")
    values["success"] = success if isinstance(success, bool) else None
    return values
