from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from runbench.errors import UsageError
from runbench.records import DIFFICULTIES, TASK_TYPES
from runbench.workload.tasks import REQUIRED_TOOLS, TASKS_PER_CELL, builtin_library, load_tasks
from runbench.workload.tools import CATEGORIES, SHARED_ERRORS, registry, search_tools

# The library's digest: any change to the generator or the registry changes it. Update it only
# together with SUITE_VERSION, since stored results refer to the tasks by suite version.
GOLDEN_DIGEST = "d9b5765f18a397ca"


def test_thirty_tools_six_categories_of_five() -> None:
    tools = registry()
    assert len(tools) == 30
    assert Counter(tool.category for tool in tools.values()) == dict.fromkeys(CATEGORIES, 5)
    for tool in tools.values():
        assert tool.errors[:3] == SHARED_ERRORS and len(tool.errors) == 5
        assert tool.parameters and tool.description and tool.returns
        assert all(dep in tools for dep in tool.dependencies)
        assert tool.similar_to in tools and tool.similar_to != tool.name


def test_search_finds_tools_by_purpose() -> None:
    names = [tool.name for tool in search_tools("read a file")]
    assert names[0] == "file_reader" and len(names) <= 5
    assert search_tools("zzz nothing") == []


def test_library_has_at_least_thirty_tasks_per_cell_with_the_right_length() -> None:
    library = builtin_library()
    cells = Counter((task.task_type, task.difficulty) for task in library.tasks)
    assert cells == {(t, d): TASKS_PER_CELL for t in TASK_TYPES for d in DIFFICULTIES}
    for task in library.tasks:
        assert len(task.required_tools) == REQUIRED_TOOLS[task.difficulty]


def test_every_required_chain_respects_the_dependencies() -> None:
    tools = registry()
    for task in builtin_library().tasks:
        first, *rest = task.required_tools
        assert not tools[first].dependencies, f"{task.task_id} starts with a dependent tool"
        for position, name in enumerate(rest, start=1):
            dependencies = tools[name].dependencies
            earlier = task.required_tools[:position]
            assert not dependencies or any(dep in earlier for dep in dependencies), (
                f"{task.task_id}: {name} runs before all of its dependencies"
            )
        assert len(set(task.required_tools)) == len(task.required_tools)


def test_library_is_the_same_on_every_machine() -> None:
    assert builtin_library().digest()[:16] == GOLDEN_DIGEST


def test_instance_maps_to_the_same_task_for_every_model_and_prompt() -> None:
    library = builtin_library()
    first = library.task_for("data_pipeline", "hard", 7)
    assert first is library.task_for("data_pipeline", "hard", 7 + TASKS_PER_CELL)
    assert first.task_type == "data_pipeline" and first.difficulty == "hard"


def test_harder_tasks_spell_out_less() -> None:
    library = builtin_library()
    easy = library.task_for("basic_task", "easy", 0).description
    hard = library.task_for("basic_task", "very_hard", 0).description
    assert "then" in easy and "then" not in hard


_TASK = {
    "task_id": "a",
    "task_type": "basic_task",
    "difficulty": "easy",
    "description": "d",
    "required_tools": ["file_reader"],
}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "1: not JSON"),
        ('{"task_id": "a"}', "field 'task_type' is missing"),
        (json.dumps({**_TASK, "task_type": "x"}), "field 'task_type' must be one of"),
        (json.dumps({**_TASK, "required_tools": ["nope"]}), "unknown tool 'nope'"),
        (json.dumps({**_TASK, "required_tools": []}), "non-empty list"),
    ],
)
def test_a_user_task_file_is_validated_naming_line_and_field(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(UsageError, match=message):
        load_tasks(path)


def test_a_valid_user_task_file_replaces_the_library(tmp_path: Path) -> None:
    task = {
        "task_id": "mine-1",
        "task_type": "basic_task",
        "difficulty": "easy",
        "description": "Do it.",
        "required_tools": ["file_reader", "data_parser"],
    }
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(task) + "\n\n")
    library = load_tasks(path)
    assert library.task_for("basic_task", "easy", 5).task_id == "mine-1"
    with pytest.raises(UsageError, match="no hard basic_task task"):
        library.task_for("basic_task", "hard", 0)
