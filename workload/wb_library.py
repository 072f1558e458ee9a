"""Read task libraries in WorkflowBench's formats (and route JSON lines to runbench's reader).

WorkflowBench keeps tasks in ``mcp_generated_library/task_library_enhanced_v3.json``: a JSON
object ``{"tasks": [...], "metadata": {...}}`` (a bare list is accepted too, as its runner does),
each task with ``id`` (or ``instance_id``), ``task_type``, ``complexity``, ``description``,
``test_input``, ``expected_output`` and ``required_tools``. Its per-difficulty files
``difficulty_versions/task_library_enhanced_v3_<difficulty>[_with_workflows].json`` hold every
task type each; in the ``_with_workflows`` ones a task also carries ``workflow``, a pre-generated
plan whose ``optimal_sequence`` is the tool order the ``optimal`` prompt shows.

How difficulty applies (``tasks.DifficultyRule``):

- ``--tasks 'lib_{difficulty}.json'``: for each of the five difficulties the file named by the
  pattern is read, and all its tasks run as that difficulty, as WorkflowBench's ``--difficulty``
  picks a file. A difficulty whose file does not exist serves no cell.
- ``--tasks lib.json`` (one WorkflowBench file): each difficulty runs WorkflowBench's
  per-difficulty file beside it (``difficulty_file``) when there is one, else every task of
  the main library, as WorkflowBench's runner falls back to it; one note says which
  difficulties fell back. (Before suite version 3 a task's ``complexity`` was its difficulty,
  which left 16 of 25 cells of WorkflowBench's main library empty.)
- ``--tasks tasks.jsonl``: each task's ``difficulty`` field, as before.

Either way a planned cell with no task is a ``MissingCell`` with its reason. Within a cell,
instance ``i`` runs the cell's task ``i mod n`` in file order, where WorkflowBench draws one at
random: the same task for every model is what makes paired comparisons possible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from runbench.errors import UsageError
from runbench.records import DIFFICULTIES, TASK_TYPES
from runbench.workload.tasks import LibrarySource, Task, TaskLibrary, load_jsonl_tasks
from runbench.workload.tools import JsonValue, ToolRegistry

DIFFICULTY_FIELD = "{difficulty}"
_LFS_HEADER = b"version https://git-lfs.github.com/spec/"
_HINT = "--tasks takes JSON lines, a WorkflowBench task library, or a pattern with {difficulty}"


def load_task_library(spec: str | Path, tools: ToolRegistry) -> TaskLibrary:
    """Load ``--tasks``: one file (JSON lines or WorkflowBench) or a ``{difficulty}`` pattern.

    Raises:
        UsageError: no file matches, a file cannot be read, or a task is invalid; the message
            names the file and the position (line, or ``tasks[i]`` with the task id) and field.
    """
    text = str(spec)
    if DIFFICULTY_FIELD in text:
        return _load_pattern(text, tools)
    path = Path(text)
    content, digest = _read(path)
    document = _document(path, content)
    if document is None:
        return load_jsonl_tasks(path, content, tools)
    return _with_difficulty_files(path, document, digest, tools)


def difficulty_file(main: Path, difficulty: str) -> Path | None:
    """WorkflowBench's file for ``difficulty`` beside the main library, if there is one.

    ``_load_task_library`` looks for ``difficulty_versions/<main>_<difficulty>_with_workflows.json``
    first, then ``difficulty_versions/<main>_<difficulty>.json`` (``<main>`` is the main file's
    name without ``.json``, e.g. ``task_library_enhanced_v3``). A Git LFS pointer (what a clone
    without LFS holds: WorkflowBench's repository keeps these files in LFS) is not a library and
    counts as absent.
    """
    folder = main.parent / "difficulty_versions"
    for suffix in ("_with_workflows", ""):
        candidate = folder / f"{main.stem}_{difficulty}{suffix}.json"
        if candidate.is_file() and not is_lfs_pointer(candidate):
            return candidate
    return None


def is_lfs_pointer(path: Path) -> bool:
    """Whether ``path`` holds a Git LFS pointer instead of its content."""
    try:
        with path.open("rb") as file:
            return file.read(len(_LFS_HEADER)) == _LFS_HEADER
    except OSError:
        return False


def _with_difficulty_files(
    path: Path, document: JsonValue, digest: str, tools: ToolRegistry
) -> TaskLibrary:
    """One WorkflowBench file: its per-difficulty files where they exist, else itself.

    Each difficulty runs its own file when WorkflowBench's runner would find one; every other
    difficulty runs all the main library's tasks, as WorkflowBench falls back to the main library
    when a per-difficulty file is missing (``complexity`` stays an attribute). The library's
    ``notes`` hold one line saying which difficulties fell back.
    """
    main_tasks = _tasks(path, document, "easy", tools)
    tasks: list[Task] = []
    sources = []
    fallback = []
    for difficulty in DIFFICULTIES:
        own = difficulty_file(path, difficulty)
        if own is None:
            fallback.append(difficulty)
            tasks.extend(dataclasses.replace(task, difficulty=difficulty) for task in main_tasks)
            sources.append(LibrarySource(str(path), difficulty, len(main_tasks), digest))
            continue
        content, own_digest = _read(own)
        own_document = _document(own, content)
        if own_document is None:
            raise UsageError(f"{own}: a per-difficulty library must be WorkflowBench JSON")
        found = _tasks(own, own_document, difficulty, tools)
        tasks.extend(found)
        sources.append(LibrarySource(str(own), difficulty, len(found), own_digest))
    notes: tuple[str, ...] = ()
    if fallback:
        notes = (
            f"{path}: no per-difficulty file (or only a Git LFS pointer) for "
            f"{', '.join(fallback)}; the main library serves every such difficulty, as "
            "WorkflowBench does",
        )
    return TaskLibrary(tasks, sources=sources, rule="file", notes=notes)


def _load_pattern(pattern: str, tools: ToolRegistry) -> TaskLibrary:
    tasks: list[Task] = []
    sources = []
    for difficulty in DIFFICULTIES:
        path = Path(pattern.replace(DIFFICULTY_FIELD, difficulty))
        if not path.is_file():
            sources.append(LibrarySource(str(path), difficulty, 0, None))
            continue
        content, digest = _read(path)
        document = _document(path, content)
        if document is None:
            raise UsageError(
                f"{path}: a {DIFFICULTY_FIELD} pattern takes WorkflowBench JSON files, "
                "not JSON lines",
                hint="give a JSON-lines file by itself; each task names its difficulty",
            )
        found = _tasks(path, document, difficulty, tools)
        tasks.extend(found)
        sources.append(LibrarySource(str(path), difficulty, len(found), digest))
    if not tasks:
        tried = Path(pattern.replace(DIFFICULTY_FIELD, DIFFICULTIES[0]))
        raise UsageError(
            f"no task file matches the pattern {pattern} (tried {tried} and the other "
            "difficulties)",
            hint=_HINT,
        )
    return TaskLibrary(tasks, sources=sources, rule="file")


def _read(path: Path) -> tuple[str, str]:
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read task file {path}: {error}", hint=_HINT) from None


def _document(path: Path, content: str) -> JsonValue | None:
    """The WorkflowBench document in ``content``, or None when it is JSON lines.

    A file is WorkflowBench's when it parses as one JSON value that is a list or an object with
    ``tasks``; ``.jsonl`` files and files of several JSON values are JSON lines, whose reader
    names the bad line. A ``.json`` file that does not parse is reported with its position.
    """
    if path.suffix == ".jsonl":
        return None
    try:
        document = json.loads(content)
    except json.JSONDecodeError as error:
        if path.suffix == ".json" and error.msg != "Extra data":
            raise UsageError(
                f"{path}:{error.lineno}:{error.colno}: not JSON ({error.msg})", hint=_HINT
            ) from None
        return None
    if isinstance(document, list) or (isinstance(document, dict) and "tasks" in document):
        return document
    if isinstance(document, dict) and "task_id" in document:  # JSON lines of one task
        return None
    if path.suffix == ".json":
        raise UsageError(
            f"{path}: a WorkflowBench task library is an object with 'tasks' or a list of tasks",
            hint=_HINT,
        )
    return None


def _tasks(path: Path, document: JsonValue, difficulty: str, tools: ToolRegistry) -> list[Task]:
    rows = document["tasks"] if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise UsageError(f"{path}: field 'tasks' must be a list of tasks")
    if not rows:
        raise UsageError(f"{path}: holds no task")
    seen: dict[str, int] = {}
    tasks = []
    for index, row in enumerate(rows):
        task = _task(path, index, row, difficulty, tools)
        if task.task_id in seen:
            raise UsageError(
                f"{path}: tasks[{index}]: id '{task.task_id}' repeats tasks[{seen[task.task_id]}]"
            )
        seen[task.task_id] = index
        tasks.append(task)
    return tasks


def _task(path: Path, index: int, row: JsonValue, difficulty: str, tools: ToolRegistry) -> Task:
    where = f"{path}: tasks[{index}]"
    if not isinstance(row, dict):
        raise UsageError(f"{where}: a task must be a JSON object")
    task_id = row.get("instance_id") or row.get("id")
    if not isinstance(task_id, str | int) or isinstance(task_id, bool) or task_id == "":
        raise UsageError(f"{where}: field 'id' is missing")
    where = f"{where} (id '{task_id}')"
    task_type = row.get("task_type")
    if task_type not in TASK_TYPES:
        raise UsageError(f"{where}: field 'task_type' must be one of {', '.join(TASK_TYPES)}")
    complexity = row.get("complexity")
    if complexity is not None and complexity not in DIFFICULTIES:
        raise UsageError(f"{where}: field 'complexity' must be one of {', '.join(DIFFICULTIES)}")
    description = row.get("description")
    if not isinstance(description, str) or not description.strip():
        raise UsageError(f"{where}: field 'description' must be a non-empty string")
    inputs = row.get("test_input", {})
    outputs = row.get("expected_output", {})
    for name, value in (("test_input", inputs), ("expected_output", outputs)):
        if not isinstance(value, dict):
            raise UsageError(f"{where}: field '{name}' must be an object")
    return Task(
        task_id=str(task_id),
        task_type=task_type,
        difficulty=difficulty,
        description=description,
        required_tools=_tool_names(where, "required_tools", row.get("required_tools"), tools),
        inputs=inputs,
        expected_outputs=outputs,
        complexity=complexity,
        optimal_workflow=_workflow(where, row.get("workflow"), tools),
    )


def _workflow(where: str, workflow: JsonValue, tools: ToolRegistry) -> tuple[str, ...] | None:
    if workflow is None:
        return None
    if not isinstance(workflow, dict):
        raise UsageError(f"{where}: field 'workflow' must be an object or null")
    return _tool_names(where, "workflow.optimal_sequence", workflow.get("optimal_sequence"), tools)


def _tool_names(where: str, field: str, names: JsonValue, tools: ToolRegistry) -> tuple[str, ...]:
    if not isinstance(names, list) or not names:
        raise UsageError(f"{where}: field '{field}' must be a non-empty list of tool names")
    canonical = []
    for position, name in enumerate(names):
        found = tools.canonical(name) if isinstance(name, str) else None
        if found is None:
            source = "the built-in registry" if tools.is_builtin else str(tools.source)
            raise UsageError(
                f"{where}: field '{field}[{position}]' names unknown tool {name!r} "
                f"(not in {source})",
                hint="--tools FILE loads the tool_registry.json the library was made with",
            )
        canonical.append(found)
    return tuple(canonical)
