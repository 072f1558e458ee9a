"""Re-judging stored tests from their transcripts, without calling any model.

A stored row says what was concluded when the test ran; its transcript says what happened.
``rescore`` reads each judged test of a suite once (its latest non-error attempt), judges its
transcript again under the suite's rules, and counts per field how often the stored value and the
new one agree (numbers within a tolerance, tool calls and success exactly). Nothing is written:
agreement is the proof that the rules are the ones that produced the rows, and differences name
the tests where they are not.

Which rules judge a transcript is decided by the transcript itself:

- ``workflowbench-log`` (written by ``migrate --legacy-logs``): WorkflowBench's rules
  (``workload/log_judge.py``), which need its registry's tool names in file order and, for phase
  2's similarity, its tool index;
- a transcript a runbench run saved (``{"messages": [...]}``): the test is run again through
  ``workload/executor.py:run_test`` with a client that answers the saved replies in order
  (``ReplayClient``); tool outcomes are seeded from the test id, so under unchanged rules the run
  is the same one and every field agrees, and under changed rules the saved replies are judged
  by the new ones. It needs the run's task library (``--tasks``, ``--tools``) and the similarity
  the row was scored with; a row scored with another similarity is counted under
  ``not_judged``, as are tests whose transcript was not saved.

The store is scanned once for the suite's rows (a few small columns per test, to find each
test's latest attempt); transcripts are then read one at a time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbench.errors import StoreError, UsageError
from runbench.records import ERROR_STATUS
from runbench.runners.replay import judge_run
from runbench.storage import Store
from runbench.workload.log_judge import FIELDS, Judgement, judge_log
from runbench.workload.similarity import ToolSimilarity, default_similarity
from runbench.workload.suite import Workload, load_workload
from runbench.workload.tool_index import load_tool_index
from runbench.workload.wb_registry import load_tool_registry

TRANSCRIPT_FORMAT = (
    "workflowbench-log"  # what migrate/wb_logs.py saves (migrate is not importable here)
)
ALL_SUITES = "all"
_COLUMNS = (
    "test_id",
    "attempt",
    "status",
    "success",
    "executed_tools",
    "workflow_score",
    "phase2_score",
    "quality_score",
    "final_score",
    "transcript",
    "task_type",
    "required_tools",
    "prompt_type",
    "difficulty",
    "instance",
    "tool_success_rate",
    "protocol",
    "task_id",
    "similarity_source",
)


@dataclass(slots=True)
class FieldAgreement:
    """How many tests agree on one field, of how many, and the largest difference seen."""

    equal: int = 0
    total: int = 0
    max_abs_diff: float = 0.0


@dataclass(frozen=True, slots=True)
class Difference:
    """One test on which the stored and the judged value of a field differ."""

    test_id: str
    field: str
    stored: Any
    judged: Any
    note: str | None = None


@dataclass(slots=True)
class RescoreReport:
    """Agreement per field over the judged tests, and the tests that could not be judged."""

    suite: str
    tolerance: float
    similarity_source: str
    tests: int = 0
    fields: dict[str, FieldAgreement] = field(
        default_factory=lambda: {name: FieldAgreement() for name in FIELDS}
    )
    differences: list[Difference] = field(default_factory=list)
    not_judged: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"tests": N, "fields": {name: {equal, total, max_abs_diff}}}``.

        Also carries the suite, tolerance, similarity source, untested counts and differences.
        """
        return {
            "tests": self.tests,
            "fields": {
                name: {
                    "equal": value.equal,
                    "total": value.total,
                    "max_abs_diff": value.max_abs_diff,
                }
                for name, value in self.fields.items()
            },
            "suite": self.suite,
            "tolerance": self.tolerance,
            "similarity_source": self.similarity_source,
            "not_judged": dict(sorted(self.not_judged.items())),
            "differences": [
                {
                    "test_id": item.test_id,
                    "field": item.field,
                    "stored": list(item.stored) if isinstance(item.stored, tuple) else item.stored,
                    "judged": list(item.judged) if isinstance(item.judged, tuple) else item.judged,
                    "note": item.note,
                }
                for item in self.differences
            ],
        }


@dataclass(frozen=True, slots=True)
class Rules:
    """What judging needs besides a transcript.

    ``tool_names`` (registry order) and ``similarity`` judge WorkflowBench logs; ``workload``
    (tasks and tools) and the same similarity replay runbench's own runs.
    """

    tool_names: tuple[str, ...]
    similarity: ToolSimilarity
    workload: Workload | None = None


def _latest_judged_rows(store: Store, suite: str) -> Iterator[dict[str, Any]]:
    """Each judged test of ``suite`` once: its latest non-error attempt (columns of _COLUMNS)."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    filters = None if suite == ALL_SUITES else {"suite": suite}
    for batch in store.scan_batches(list(_COLUMNS), filters=filters):
        for row in batch.to_pylist():
            if row["status"] == ERROR_STATUS:
                continue
            kept = latest.get(row["test_id"])
            if kept is None or row["attempt"] > kept[0]:
                latest[row["test_id"]] = (row["attempt"], row)
    for test_id in sorted(latest):
        yield latest[test_id][1]


async def _judge(row: Mapping[str, Any], store: Store, rules: Rules) -> Judgement | str:
    """One row's judgement under its suite's rules, or why it cannot be judged."""
    if not row.get("transcript"):
        return "no transcript saved"
    try:
        transcript = store.read_transcript(row["transcript"])
    except StoreError:
        return "transcript missing or unreadable"
    if transcript.get("format") == TRANSCRIPT_FORMAT and isinstance(transcript.get("log"), dict):
        if not rules.tool_names:
            return "WorkflowBench logs need its registry or index (--tools, --tool-index)"
        log = {**transcript["log"], "conversation_history": transcript.get("messages") or []}
        return judge_log(log, rules.tool_names, rules.similarity)
    messages = transcript.get("messages")
    if not isinstance(messages, list) or rules.workload is None:
        return "transcript of an unknown shape"
    if row.get("similarity_source") != rules.similarity.source:
        return (
            f"scored with similarity {row.get('similarity_source')}, not {rules.similarity.source}"
        )
    return await judge_run(row, messages, rules.workload, rules.similarity)


def _stored(row: Mapping[str, Any], name: str) -> Any:
    if name == "tool_calls":
        return tuple(row.get("executed_tools") or ())
    if name == "success":
        return bool(row.get("success"))
    return row.get(name)


def _agree(name: str, stored: Any, judged: Any, tolerance: float) -> tuple[bool, float]:
    """(agree, absolute difference) of one field's two values."""
    if name == "tool_calls":
        return stored == judged, float(abs(len(stored) - len(judged)))
    if name == "success":
        return stored == judged, float(stored != judged)
    if stored is None or not math.isfinite(stored):
        return False, math.inf
    difference = abs(float(stored) - float(judged))
    return difference <= tolerance, difference


def rescore(
    store: Store,
    *,
    suite: str,
    rules: Rules,
    tolerance: float = 1e-6,
    show_differences: int = 0,
) -> RescoreReport:
    """Judge every judged test of ``suite`` again and count agreement (module docstring).

    ``show_differences`` keeps up to that many differing tests per field in the report. One
    event loop serves the whole pass (replays run the executor, which is async).
    """
    return asyncio.run(_rescore(store, suite, rules, tolerance, show_differences))


async def _rescore(
    store: Store, suite: str, rules: Rules, tolerance: float, show_differences: int
) -> RescoreReport:
    report = RescoreReport(suite, tolerance, rules.similarity.source)
    shown: dict[str, int] = {}
    for row in _latest_judged_rows(store, suite):
        judgement = await _judge(row, store, rules)
        if isinstance(judgement, str):
            report.not_judged[judgement] = report.not_judged.get(judgement, 0) + 1
            continue
        report.tests += 1
        for name in FIELDS:
            stored, judged = _stored(row, name), judgement.value(name)
            agree, difference = _agree(name, stored, judged, tolerance)
            counted = report.fields[name]
            counted.total += 1
            counted.equal += agree
            counted.max_abs_diff = max(counted.max_abs_diff, difference)
            if not agree and shown.get(name, 0) < show_differences:
                shown[name] = shown.get(name, 0) + 1
                report.differences.append(
                    Difference(row["test_id"], name, stored, judged, judgement.replay_note)
                )
    return report


def load_rules(tools: Path | None, tool_index: Path | None, tasks: Path | None = None) -> Rules:
    """The rules' inputs, from the files given.

    Registry names come from the registry file (its order is the order names match in), else
    from the index (WorkflowBench writes its tools in the registry's order). Similarity comes
    from the index, else the registry's trigram fallback (phase 2 then differs where
    WorkflowBench's embeddings credited a similar tool). Runbench's own runs replay against the
    workload of ``tasks`` and ``tools`` (the built-in ones when neither is given).

    Raises:
        UsageError: a file cannot be read (one line naming it).
    """
    index = load_tool_index(tool_index) if tool_index is not None else None
    workload = load_workload(tasks, tools) if tasks is not None or tools is None else None
    registry = workload.tools if workload is not None else None
    if registry is None and tools is not None:
        registry = load_tool_registry(tools)
    names: tuple[str, ...] = ()
    if tools is not None and registry is not None:
        names = tuple(registry)
    elif index is not None:
        names = index.tool_names
    if index is not None:
        return Rules(names, index.similarity(), workload)
    assert registry is not None
    return Rules(names, default_similarity(registry), workload)


def run_rescore(
    store: Store,
    *,
    suite: str,
    tools: Path | None,
    tool_index: Path | None,
    tolerance: float,
    show_differences: int,
    tasks: Path | None = None,
) -> RescoreReport:
    """Load the rules (``load_rules``), then ``rescore`` the suite.

    Raises:
        UsageError: the tolerance or count is negative, the rules' files cannot be read, or the
            suite has no judged test in the store.
    """
    if not math.isfinite(tolerance) or tolerance < 0 or show_differences < 0:
        raise UsageError("--tolerance and --show-differences must be non-negative")
    rules = load_rules(tools, tool_index, tasks)
    report = rescore(
        store, suite=suite, rules=rules, tolerance=tolerance, show_differences=show_differences
    )
    if not report.tests and not report.not_judged:
        raise UsageError(
            f"the store holds no judged test of suite '{suite}'",
            hint="imported WorkflowBench logs are --suite legacy-logs; --suite all takes every one",
        )
    return report
