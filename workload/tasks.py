"""The task library: a deterministic, versioned generator of workflow tasks.

For every task type × difficulty it generates ``TASKS_PER_CELL`` tasks from a seed derived from
the suite version, so the same library comes out on every machine (a golden-hash test pins it).
Difficulty sets how many tools a task requires (very_easy 2 … very_hard 6) and how much of the
workflow its description spells out. A task's required tools are built forward from a source:
each next tool has a dependency among the tools before it, so the order is always executable.

Instance ``i`` of a cell is task ``i mod n`` of its task type and difficulty, for every model and
prompt type, so models are compared on identical tasks (DESIGN.md §4).

A library of one's own (``--tasks``) is read by ``load_tasks``: JSON lines in runbench's schema,
or WorkflowBench's formats (``wb_library``). Where each task's difficulty comes from depends on
the form (``DifficultyRule``); a planned cell the library cannot serve is a ``MissingCell``, which
the planner skips and the CLI prints as one line, never a crash or a silent gap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from runbench.errors import UsageError
from runbench.records import DIFFICULTIES, TASK_TYPES
from runbench.workload.tools import ToolRegistry, builtin_registry, registry

SUITE_VERSION = "1"
TASKS_PER_CELL = 30
REQUIRED_TOOLS = {"very_easy": 2, "easy": 3, "medium": 4, "hard": 5, "very_hard": 6}

# tools each task type prefers, in the order a workflow of that kind would use them
_TYPE_POOLS: dict[str, tuple[str, ...]] = {
    "simple_task": (
        "file_reader",
        "data_parser",
        "compute_sorter",
        "utility_formatter",
        "file_writer",
        "compute_calculator",
        "utility_logger",
        "file_compressor",
    ),
    "basic_task": (
        "file_reader",
        "data_parser",
        "data_validator",
        "data_transformer",
        "file_writer",
        "utility_formatter",
        "utility_notifier",
        "utility_archiver",
    ),
    "data_pipeline": (
        "file_reader",
        "data_parser",
        "data_validator",
        "data_filter",
        "data_transformer",
        "data_aggregator",
        "compute_statistics",
        "file_writer",
        "utility_archiver",
    ),
    "api_integration": (
        "network_authenticator",
        "network_fetcher",
        "data_parser",
        "integration_mapper",
        "integration_connector",
        "integration_syncer",
        "network_poster",
        "utility_logger",
    ),
    "multi_stage_pipeline": (
        "network_fetcher",
        "data_parser",
        "compute_deduplicator",
        "data_filter",
        "compute_statistics",
        "compute_predictor",
        "utility_formatter",
        "file_writer",
        "file_compressor",
        "integration_scheduler",
    ),
}
_SUBJECTS = (
    "sales",
    "inventory",
    "sensor",
    "customer",
    "shipment",
    "billing",
    "traffic",
    "survey",
    "payroll",
    "ticket",
)
_GOALS = {
    "simple_task": "produce a sorted summary of the {subject} data",
    "basic_task": "clean the {subject} records and store a validated copy",
    "data_pipeline": "build an aggregated {subject} dataset for the weekly dashboard",
    "api_integration": "pull {subject} records from the partner API and sync them to our CRM",
    "multi_stage_pipeline": "forecast next week's {subject} volumes and publish the report",
}


@dataclass(frozen=True, slots=True)
class Task:
    """One task: what to do, with what, and the correct ordered workflow."""

    task_id: str
    task_type: str
    difficulty: str
    description: str
    required_tools: tuple[str, ...]
    inputs: dict[str, Any] = field(default_factory=dict)
    expected_outputs: dict[str, Any] = field(default_factory=dict)
    # WorkflowBench's own attribute (easy, medium, hard); None for runbench's own tasks
    complexity: str | None = None
    # the pre-generated optimal tool sequence of a ``_with_workflows`` library, when present:
    # the ``optimal`` prompt shows it instead of ``required_tools``
    optimal_workflow: tuple[str, ...] | None = None

    def canonical(self) -> dict[str, Any]:
        """The task as plain data; fields that are unset stay out, so old digests hold."""
        data = asdict(self)
        for name in ("complexity", "optimal_workflow"):
            if data[name] is None:
                del data[name]
        return data

    def to_dict(self) -> dict[str, Any]:
        """The task as JSON-ready data (lists, not tuples), for ``runbench tasks --json``."""
        data = self.canonical()
        for name in ("required_tools", "optimal_workflow"):
            if name in data:
                data[name] = list(data[name])
        return data


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(seed[:16], 16))


def _chain(rng: random.Random, task_type: str, length: int) -> tuple[str, ...]:
    """An executable chain: starts at a source; each next tool depends on an earlier one."""
    tools = registry()
    pool = _TYPE_POOLS[task_type]
    feeds = {dep for tool in tools.values() for dep in tool.dependencies}
    sources = [name for name in pool if not tools[name].dependencies and name in feeds]
    chain = [rng.choice(sources)]
    while len(chain) < length:
        ready = [
            name
            for name in pool
            if name not in chain and any(dep in chain for dep in tools[name].dependencies)
        ]
        if not ready:  # the pool is exhausted: widen to any tool whose dependency is met
            ready = [
                name
                for name, tool in tools.items()
                if name not in chain and any(dep in chain for dep in tool.dependencies)
            ]
        if not ready:  # nothing builds on the chain: finish with an independent step (log, notify)
            ready = [name for name in pool if name not in chain and not tools[name].dependencies]
        chain.append(rng.choice(ready[:3]))  # prefer the pool's early, typical steps
    return tuple(chain)


def _describe(task_type: str, difficulty: str, subject: str, chain: Sequence[str]) -> str:
    goal = _GOALS[task_type].format(subject=subject)
    steps = [name.replace("_", " ") for name in chain]
    if difficulty in ("very_easy", "easy"):
        return f"Task: {goal}. Use these steps in order: {', then '.join(steps)}."
    if difficulty == "medium":
        return f"Task: {goal}. Start with {steps[0]} and finish with {steps[-1]}."
    if difficulty == "hard":
        return f"Task: {goal}. The data must end up with {steps[-1]}."
    return f"Task: {goal}."


def _generate(task_type: str, difficulty: str, index: int) -> Task:
    rng = _rng(SUITE_VERSION, task_type, difficulty, index)
    chain = _chain(rng, task_type, REQUIRED_TOOLS[difficulty])
    subject = rng.choice(_SUBJECTS)
    number = rng.randrange(1000, 9999)
    return Task(
        task_id=f"{task_type}-{difficulty}-{index:03d}",
        task_type=task_type,
        difficulty=difficulty,
        description=_describe(task_type, difficulty, subject, chain),
        required_tools=chain,
        inputs={"source": f"data/{subject}_{number}.csv", "subject": subject},
        expected_outputs={
            "result": f"out/{subject}_{number}_{chain[-1]}.json",
            "final_tool": chain[-1],
        },
    )


@functools.cache
def builtin_library() -> TaskLibrary:
    return TaskLibrary(
        [
            _generate(t, d, i)
            for t in TASK_TYPES
            for d in DIFFICULTIES
            for i in range(TASKS_PER_CELL)
        ],
        rule="generated",
    )


# Where a task's difficulty comes from:
#   generated        the built-in library makes tasks for every difficulty
#   task_difficulty  JSON lines: each task's own ``difficulty`` field
#   task_complexity  one WorkflowBench file: each task's own ``complexity`` (easy, medium, hard),
#                    so the main library serves no very_easy/very_hard cell and, e.g., no easy
#                    api_integration one
#   file             a ``{difficulty}`` pattern: every task of the file for that difficulty,
#                    as WorkflowBench's ``--difficulty`` does; ``complexity`` stays an attribute
DifficultyRule = Literal["generated", "task_difficulty", "task_complexity", "file"]


@dataclass(frozen=True, slots=True)
class LibrarySource:
    """One file a library was read from (or, for a pattern, looked for)."""

    path: str
    difficulty: str | None  # the difficulty its tasks run as; None: each task's own
    tasks: int
    sha256: str | None  # of the file's bytes; None when the file does not exist

    @property
    def is_found(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class MissingCell:
    """A planned (task type, difficulty) the library has no task for, and why.

    The planner leaves its tests out; the CLI prints ``line()`` once per cell, so a gap in the
    results is always explained by the run that made it.
    """

    task_type: str
    difficulty: str
    reason: str

    def line(self) -> str:
        """The one line a run prints for the cell it leaves out."""
        return f"{self.problem()}; its tests are skipped"

    def problem(self) -> str:
        return f"no {self.difficulty} {self.task_type} task: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"task_type": self.task_type, "difficulty": self.difficulty, "reason": self.reason}


class TaskLibrary:
    """Tasks by (task type, difficulty), with the instance → task mapping of DESIGN.md §4."""

    def __init__(
        self,
        tasks: Iterable[Task],
        *,
        sources: Sequence[LibrarySource] = (),
        rule: DifficultyRule = "task_difficulty",
        notes: Sequence[str] = (),
    ) -> None:
        self.tasks = tuple(tasks)
        self.sources = tuple(sources)
        self.rule: DifficultyRule = rule
        # lines a run prints as [INFO] about how the library was read (e.g. a fallback)
        self.notes = tuple(notes)
        self._digest: str | None = None  # computed once: the tasks never change
        self._cells: dict[tuple[str, str], list[Task]] = {}
        for task in self.tasks:
            self._cells.setdefault((task.task_type, task.difficulty), []).append(task)

    @property
    def is_builtin(self) -> bool:
        return self.rule == "generated"

    def task_for(self, task_type: str, difficulty: str, instance: int) -> Task:
        """Task ``instance mod n`` of the cell's tasks, for every model and prompt type alike.

        Raises:
            UsageError: the library has no task of that type and difficulty (says why).
        """
        tasks = self._cells.get((task_type, difficulty))
        if not tasks:
            raise UsageError(
                self._missing(task_type, difficulty).problem(),
                hint="leave the cell out with --difficulty/--task-types, or use a library with it",
            )
        return tasks[instance % len(tasks)]

    def has_task(self, task_type: str, difficulty: str) -> bool:
        return bool(self._cells.get((task_type, difficulty)))

    def missing_cells(
        self, task_types: Iterable[str], difficulties: Iterable[str]
    ) -> tuple[MissingCell, ...]:
        """The planned (task type, difficulty) pairs without a task, each with its reason."""
        levels = tuple(difficulties)
        return tuple(
            self._missing(task_type, difficulty)
            for difficulty in levels
            for task_type in task_types
            if not self.has_task(task_type, difficulty)
        )

    def filter(
        self,
        *,
        task_types: Iterable[str] | None = None,
        difficulties: Iterable[str] | None = None,
    ) -> TaskLibrary:
        """The tasks of these types and difficulties (None: all), same sources and rule.

        For showing and choosing tasks only: the suite version is computed from the whole
        library, since a run's test ids must not depend on what a listing showed.
        """
        types = None if task_types is None else set(task_types)
        levels = None if difficulties is None else set(difficulties)
        return TaskLibrary(
            (
                task
                for task in self.tasks
                if (types is None or task.task_type in types)
                and (levels is None or task.difficulty in levels)
            ),
            sources=self.sources,
            rule=self.rule,
            notes=self.notes,
        )

    def digest(self) -> str:
        """sha256 of the canonical JSON of every task: equal libraries, equal digests."""
        if self._digest is None:
            payload = json.dumps(
                [task.canonical() for task in self.tasks], sort_keys=True, separators=(",", ":")
            )
            self._digest = hashlib.sha256(payload.encode()).hexdigest()
        return self._digest

    def summary(self) -> LibrarySummary:
        """What was loaded, for ``runbench tasks``: sources, digest, counts per cell."""
        counts = Counter((task.task_type, task.difficulty) for task in self.tasks)
        rows = []
        for (task_type, difficulty), tasks in sorted(
            self._cells.items(), key=lambda item: _cell_order(*item[0])
        ):
            complexities = Counter(task.complexity for task in tasks if task.complexity)
            rows.append(
                CellCount(
                    task_type,
                    difficulty,
                    counts[(task_type, difficulty)],
                    dict(sorted(complexities.items(), key=lambda kv: _level(kv[0]))),
                    sum(task.optimal_workflow is not None for task in tasks),
                )
            )
        return LibrarySummary(self.sources, self.rule, self.digest(), len(self.tasks), tuple(rows))

    def _missing(self, task_type: str, difficulty: str) -> MissingCell:
        return MissingCell(task_type, difficulty, self._why_missing(task_type, difficulty))

    def _why_missing(self, task_type: str, difficulty: str) -> str:
        if self.rule == "file":
            source = next((s for s in self.sources if s.difficulty == difficulty), None)
            if source is None or not source.is_found:
                where = source.path if source else f"the {difficulty} file"
                return f"no file {where} for difficulty {difficulty}"
            return f"{source.path} holds no {task_type} task"
        where = ", ".join(s.path for s in self.sources) or "the task library"
        if self.rule == "task_complexity":
            return (
                f"{where} has no {task_type} task of complexity {difficulty} (one WorkflowBench "
                "file: a task's difficulty is its complexity)"
            )
        return f"{where} has no {task_type} task of difficulty {difficulty}"


@dataclass(frozen=True, slots=True)
class CellCount:
    task_type: str
    difficulty: str
    tasks: int
    complexities: dict[str, int]  # WorkflowBench complexity → tasks, when the tasks carry it
    with_workflow: int  # tasks that carry a pre-generated optimal workflow


@dataclass(frozen=True, slots=True)
class LibrarySummary:
    """What a task library holds, as rows the CLI renders and a dict it prints as JSON."""

    sources: tuple[LibrarySource, ...]
    rule: DifficultyRule
    digest: str
    total: int
    cells: tuple[CellCount, ...]

    def rows(self) -> list[dict[str, object]]:
        return [asdict(cell) for cell in self.cells]

    def to_dict(self) -> dict[str, object]:
        return {
            "sources": [asdict(source) for source in self.sources] or "built-in",
            "difficulty_from": self.rule,
            "digest": self.digest,
            "tasks": self.total,
            "cells": self.rows(),
        }


def _level(difficulty: str) -> int:
    return DIFFICULTIES.index(difficulty) if difficulty in DIFFICULTIES else len(DIFFICULTIES)


def _cell_order(task_type: str, difficulty: str) -> tuple[int, int]:
    kind = TASK_TYPES.index(task_type) if task_type in TASK_TYPES else len(TASK_TYPES)
    return kind, _level(difficulty)


def load_tasks(path: Path, tools: ToolRegistry | None = None) -> TaskLibrary:
    """Read a task library of one's own: JSON lines, a WorkflowBench file, or a pattern.

    ``path`` may contain ``{difficulty}`` (see ``wb_library.load_task_library``). Required
    tools are checked against ``tools`` (default: the built-in registry).

    Raises:
        UsageError: a file cannot be read or a task is invalid; names file, position and field.
    """
    from runbench.workload.wb_library import load_task_library

    return load_task_library(path, tools or builtin_registry())


def load_jsonl_tasks(path: Path, text: str, tools: ToolRegistry) -> TaskLibrary:
    """Tasks in runbench's JSON-lines schema (README), one per line; blank lines skipped.

    Raises:
        UsageError: a line is not a valid task; names file, line and field.
    """
    tasks = [
        _parse_task(path, number, line, tools)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not tasks:
        raise UsageError(f"task file {path} holds no task")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return TaskLibrary(
        tasks, sources=(LibrarySource(str(path), None, len(tasks), digest),), rule="task_difficulty"
    )


def _parse_task(path: Path, number: int, line: str, tools: ToolRegistry) -> Task:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise UsageError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise UsageError(f"{where}: a task must be a JSON object")
    for name in ("task_id", "task_type", "difficulty", "description", "required_tools"):
        if name not in row:
            raise UsageError(f"{where}: field '{name}' is missing")
    allowed = {"task_type": TASK_TYPES, "difficulty": DIFFICULTIES}
    for name, choices in allowed.items():
        if row[name] not in choices:
            raise UsageError(f"{where}: field '{name}' must be one of {', '.join(choices)}")
    names = row["required_tools"]
    if not isinstance(names, list) or not names or not all(isinstance(t, str) for t in names):
        raise UsageError(f"{where}: field 'required_tools' must be a non-empty list of tool names")
    canonical = [tools.canonical(name) for name in names]
    unknown = [name for name, found in zip(names, canonical, strict=True) if found is None]
    if unknown:
        raise UsageError(
            f"{where}: field 'required_tools' names unknown tool '{unknown[0]}'",
            hint=_registry_hint(tools),
        )
    for name in ("inputs", "expected_outputs"):
        if not isinstance(row.get(name, {}), dict):
            raise UsageError(f"{where}: field '{name}' must be an object")
    return Task(
        task_id=str(row["task_id"]),
        task_type=row["task_type"],
        difficulty=row["difficulty"],
        description=str(row["description"]),
        required_tools=tuple(name for name in canonical if name is not None),
        inputs=row.get("inputs", {}),
        expected_outputs=row.get("expected_outputs", {}),
    )


def _registry_hint(tools: ToolRegistry) -> str:
    if tools.is_builtin:
        return "runbench tools lists the built-in tools; --tools FILE loads another registry"
    return (
        f"the tools are those of {tools.source}; runbench tools --tools {tools.source} lists them"
    )
