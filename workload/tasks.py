"""The task library: a deterministic, versioned generator of workflow tasks.

For every task type × difficulty it generates ``TASKS_PER_CELL`` tasks from a seed derived from
the suite version, so the same library comes out on every machine (a golden-hash test pins it).
Difficulty sets how many tools a task requires (very_easy 2 … very_hard 6) and how much of the
workflow its description spells out. A task's required tools are built forward from a source:
each next tool has a dependency among the tools before it, so the order is always executable.

Instance ``i`` of a cell is task ``i mod n`` of its task type and difficulty, for every model and
prompt type, so models are compared on identical tasks (DESIGN.md §4).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runbench.workload.tools import registry

from runbench.errors import UsageError
from runbench.records import DIFFICULTIES, TASK_TYPES

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
        ]
    )


class TaskLibrary:
    """Tasks by (task type, difficulty), with the instance → task mapping of DESIGN.md §4."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self.tasks = tuple(tasks)
        self._cells: dict[tuple[str, str], list[Task]] = {}
        for task in self.tasks:
            self._cells.setdefault((task.task_type, task.difficulty), []).append(task)

    def task_for(self, task_type: str, difficulty: str, instance: int) -> Task:
        """Task ``instance mod n`` of the cell's tasks, for every model and prompt type alike.

        Raises:
            UsageError: the library has no task of that type and difficulty.
        """
        tasks = self._cells.get((task_type, difficulty))
        if not tasks:
            raise UsageError(f"the task library has no {difficulty} {task_type} task")
        return tasks[instance % len(tasks)]

    def filter(
        self,
        task_types: Sequence[str] | None = None,
        difficulties: Sequence[str] | None = None,
    ) -> list[Task]:
        """The tasks of these types and difficulties (``None``: any), in library order."""
        return [
            task
            for task in self.tasks
            if (task_types is None or task.task_type in task_types)
            and (difficulties is None or task.difficulty in difficulties)
        ]

    def digest(self) -> str:
        """sha256 of the canonical JSON of every task: equal libraries, equal digests."""
        payload = json.dumps(
            [asdict(task) for task in self.tasks], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def custom_suite_version(library: TaskLibrary) -> str:
    """A custom library's suite version: its content hash, so its test ids are its own."""
    return f"custom-{library.digest()[:12]}"


def load_tasks(path: Path) -> TaskLibrary:
    """Read a user task library (JSON lines, one task per line; schema in the README).

    Raises:
        UsageError: the file cannot be read, or a line is not a valid task; names line and field.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read task file {path}: {error}") from None
    tasks = [
        _parse_task(path, number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    if not tasks:
        raise UsageError(f"task file {path} holds no task")
    return TaskLibrary(tasks)


def _parse_task(path: Path, number: int, line: str) -> Task:
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
    tools = row["required_tools"]
    if not isinstance(tools, list) or not tools or not all(isinstance(t, str) for t in tools):
        raise UsageError(f"{where}: field 'required_tools' must be a non-empty list of tool names")
    unknown = [t for t in tools if t not in registry()]
    if unknown:
        raise UsageError(f"{where}: field 'required_tools' names unknown tool '{unknown[0]}'")
    for name in ("inputs", "expected_outputs"):
        if not isinstance(row.get(name, {}), dict):
            raise UsageError(f"{where}: field '{name}' must be an object")
    return Task(
        task_id=str(row["task_id"]),
        task_type=row["task_type"],
        difficulty=row["difficulty"],
        description=str(row["description"]),
        required_tools=tuple(tools),
        inputs=row.get("inputs", {}),
        expected_outputs=row.get("expected_outputs", {}),
    )
