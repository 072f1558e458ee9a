"""WorkflowBench task libraries load: object form, per-difficulty files, _with_workflows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runbench.errors import UsageError
from runbench.records import DIFFICULTIES, TASK_TYPES
from runbench.workload.tasks import LibrarySource, MissingCell, load_tasks
from runbench.workload.tools import builtin_registry
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES

WB = FIXTURES / "wb"
LIBRARY = WB / "task_library.json"
PATTERN = WB / "difficulty_versions" / "tasks_{difficulty}.json"
WITH_WORKFLOWS = WB / "difficulty_versions" / "tasks_{difficulty}_with_workflows.json"
TOOLS = load_tool_registry(WB / "tool_registry.json")


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(LIBRARY.read_text())
    return document


def _write(tmp_path: Path, document: object, name: str = "lib.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=1))
    return path


def test_one_file_serves_every_difficulty_keeping_complexity_as_an_attribute() -> None:
    library = load_tasks(LIBRARY, TOOLS)
    ids = ["t_simple_1", "t_simple_2", "t_simple_3", "t_basic_1", "t_api_1", "t_api_2", "t_multi_1"]
    # no difficulty_versions/task_library_<difficulty>.json beside it: the main library serves
    # each of the five difficulties, as WorkflowBench's runner falls back to it
    assert [t.task_id for t in library.tasks] == ids * len(DIFFICULTIES)
    task = library.task_for("api_integration", "easy", 1)
    assert task.task_id == "t_api_2"
    assert (task.difficulty, task.complexity) == ("easy", "hard")
    assert task.required_tools == (
        "helper_clock",
        "storage_loader",
        "text_tokenizer",
        "text_summarizer",
        "web_sender",
    )
    assert task.inputs == {"input_data": {"key": "doc-t_api_2"}}
    assert task.expected_outputs == {"processed_data": {"processed": True}}
    assert task.optimal_workflow is None
    assert library.rule == "file" and not library.is_builtin
    assert library.notes == (
        f"{LIBRARY}: no per-difficulty file (or only a Git LFS pointer) for "
        f"{', '.join(DIFFICULTIES)}; the main library serves every such difficulty, as "
        "WorkflowBench does",
    )


def test_instances_cycle_through_a_cells_tasks_in_file_order() -> None:
    library = load_tasks(LIBRARY, TOOLS)
    ids = [library.task_for("simple_task", "hard", i).task_id for i in range(4)]
    assert ids == ["t_simple_1", "t_simple_2", "t_simple_3", "t_simple_1"]


def test_per_difficulty_files_beside_the_main_library_are_used_where_they_exist(
    tmp_path: Path,
) -> None:
    main = _write(tmp_path, _document(), "task_library_enhanced_v3.json")
    folder = tmp_path / "difficulty_versions"
    folder.mkdir()
    hard = _document()
    hard["tasks"] = [task for task in hard["tasks"] if task["task_type"] == "api_integration"]
    _write(folder, hard, "task_library_enhanced_v3_hard.json")
    with_workflows = json.loads(
        WITH_WORKFLOWS.with_name("tasks_easy_with_workflows.json").read_text()
    )
    _write(folder, with_workflows, "task_library_enhanced_v3_easy_with_workflows.json")
    _write(folder, _document(), "task_library_enhanced_v3_easy.json")  # the plain one loses
    # a clone without Git LFS holds pointers: not a library, so the main library serves medium
    (folder / "task_library_enhanced_v3_medium_with_workflows.json").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 62395184\n"
    )
    library = load_tasks(main, TOOLS)
    assert [s.path for s in library.sources] == [
        str(main),
        str(folder / "task_library_enhanced_v3_easy_with_workflows.json"),
        str(main),
        str(folder / "task_library_enhanced_v3_hard.json"),
        str(main),
    ]
    assert sorted({t.task_type for t in library.tasks if t.difficulty == "hard"}) == [
        "api_integration"
    ]
    assert library.missing_cells(["simple_task"], ["hard"])[0].reason == (
        f"{folder / 'task_library_enhanced_v3_hard.json'} holds no simple_task task"
    )
    assert library.notes == (
        f"{main}: no per-difficulty file (or only a Git LFS pointer) for very_easy, medium, "
        "very_hard; the main library serves every such difficulty, as WorkflowBench does",
    )


def test_a_bare_list_of_tasks_loads_like_the_object_form(tmp_path: Path) -> None:
    path = _write(tmp_path, _document()["tasks"])
    assert load_tasks(path, TOOLS).digest() == load_tasks(LIBRARY, TOOLS).digest()


def test_a_tool_alias_in_a_task_becomes_the_registry_name() -> None:
    task = load_tasks(LIBRARY, TOOLS).task_for("simple_task", "easy", 1)
    assert task.task_id == "t_simple_2"
    assert task.required_tools == ("storage_loader", "text_tokenizer")


def test_a_task_type_the_file_lacks_is_a_missing_cell_in_every_difficulty(tmp_path: Path) -> None:
    document = _document()
    document["tasks"] = [t for t in document["tasks"] if t["task_type"] != "basic_task"]
    path = _write(tmp_path, document)
    library = load_tasks(path, TOOLS)
    missing = library.missing_cells(("simple_task", "basic_task"), DIFFICULTIES)
    assert [(m.task_type, m.difficulty) for m in missing] == [
        ("basic_task", difficulty) for difficulty in DIFFICULTIES
    ]
    assert missing[0].line() == (
        f"no very_easy basic_task task: {path} holds no basic_task task; its tests are skipped"
    )
    assert missing[0].to_dict() == {
        "task_type": "basic_task",
        "difficulty": "very_easy",
        "reason": missing[0].reason,
    }
    with pytest.raises(UsageError) as caught:
        library.task_for("basic_task", "very_hard", 0)
    assert str(caught.value) == missing[-1].problem()


def test_a_pattern_runs_each_file_as_its_difficulty_keeping_complexity() -> None:
    library = load_tasks(PATTERN, TOOLS)
    assert library.rule == "file"
    easy = library.task_for("api_integration", "easy", 0)
    hard = library.task_for("api_integration", "hard", 0)
    assert (easy.task_id, easy.difficulty, easy.complexity) == ("t_api_1", "easy", "medium")
    assert (hard.task_id, hard.difficulty, hard.complexity) == ("t_api_1", "hard", "medium")
    assert easy.description != hard.description  # the files word the same task differently


def test_a_pattern_lists_every_file_it_looked_for_with_its_digest() -> None:
    library = load_tasks(PATTERN, TOOLS)
    folder = WB / "difficulty_versions"
    expected = []
    for difficulty in DIFFICULTIES:
        path = folder / f"tasks_{difficulty}.json"
        if path.is_file():
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            expected.append(LibrarySource(str(path), difficulty, 2, sha))
        else:
            expected.append(LibrarySource(str(path), difficulty, 0, None))
    assert library.sources == tuple(expected)
    assert [s.is_found for s in library.sources] == [False, True, False, True, False]


def test_a_difficulty_whose_file_is_absent_is_a_missing_cell_naming_the_file() -> None:
    library = load_tasks(PATTERN, TOOLS)
    absent = WB / "difficulty_versions" / "tasks_medium.json"
    assert library.missing_cells(["simple_task", "basic_task"], ["medium", "easy"]) == (
        MissingCell("simple_task", "medium", f"no file {absent} for difficulty medium"),
        MissingCell("basic_task", "medium", f"no file {absent} for difficulty medium"),
        MissingCell(
            "basic_task",
            "easy",
            f"{WB / 'difficulty_versions' / 'tasks_easy.json'} holds no basic_task task",
        ),
    )


def test_with_workflows_exposes_the_pre_generated_optimal_sequence() -> None:
    library = load_tasks(WITH_WORKFLOWS, TOOLS)
    planned = library.task_for("api_integration", "easy", 0)
    assert planned.optimal_workflow == (
        "storage_loader",
        "text_tokenizer",
        "text_summarizer",
        "web_sender",
    )
    assert library.task_for("simple_task", "easy", 0).optimal_workflow == (
        "storage_loader",
        "text_tokenizer",
    )
    # "workflow": null is a task without a pre-generated plan, as in WorkflowBench
    assert library.task_for("api_integration", "easy", 1).optimal_workflow is None


def test_a_pre_generated_workflow_changes_the_library_digest(tmp_path: Path) -> None:
    source = WB / "difficulty_versions" / "tasks_easy_with_workflows.json"
    document = json.loads(source.read_text())
    for task in document["tasks"]:
        task.pop("workflow", None)
    without = load_tasks(_write(tmp_path, document), TOOLS)
    with_workflows = load_tasks(source, TOOLS)
    assert [t.task_id for t in without.tasks] == [t.task_id for t in with_workflows.tasks]
    assert without.digest() != with_workflows.digest()


def test_a_pattern_that_matches_no_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no task file matches the pattern") as caught:
        load_tasks(tmp_path / "lib_{difficulty}.json", TOOLS)
    assert str(tmp_path / "lib_very_easy.json") in str(caught.value)


def test_a_pattern_refuses_json_lines_files(tmp_path: Path) -> None:
    line = {
        "task_id": "a",
        "task_type": "basic_task",
        "difficulty": "easy",
        "description": "d",
        "required_tools": ["storage_loader"],
    }
    (tmp_path / "lib_easy.json").write_text(json.dumps(line) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(UsageError, match="pattern takes WorkflowBench JSON files"):
        load_tasks(tmp_path / "lib_{difficulty}.json", TOOLS)


def test_a_workflowbench_library_without_its_registry_names_the_tool_and_the_fix() -> None:
    with pytest.raises(UsageError) as caught:
        load_tasks(LIBRARY)
    assert str(caught.value) == (
        f"{LIBRARY}: tasks[0] (id 't_simple_1'): field 'required_tools[0]' names unknown tool "
        "'storage_loader' (not in the built-in registry)"
    )
    assert caught.value.hint and "--tools" in caught.value.hint


def _broken(change: str) -> dict[str, Any]:
    document = _document()
    task = document["tasks"][3]
    if change == "no id":
        del task["id"]
    elif change == "task type":
        task["task_type"] = "etl_task"
    elif change == "complexity":
        task["complexity"] = "brutal"
    elif change == "unknown tool":
        task["required_tools"][2] = "text_translator"
    elif change == "no tools":
        task["required_tools"] = []
    elif change == "test input":
        task["test_input"] = [1, 2]
    elif change == "workflow":
        task["workflow"] = {"optimal_sequence": ["storage_loader", "teleporter"]}
    elif change == "workflow shape":
        task["workflow"] = ["storage_loader"]
    elif change == "duplicate":
        task["id"] = "t_simple_1"
    elif change == "tasks":
        document["tasks"] = {"t": task}
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no id", "tasks[3]: field 'id' is missing"),
        ("task type", "tasks[3] (id 't_basic_1'): field 'task_type' must be one of simple_task"),
        ("complexity", "tasks[3] (id 't_basic_1'): field 'complexity' must be one of very_easy"),
        (
            "unknown tool",
            "tasks[3] (id 't_basic_1'): field 'required_tools[2]' names unknown tool "
            "'text_translator'",
        ),
        ("no tools", "field 'required_tools' must be a non-empty list of tool names"),
        ("test input", "tasks[3] (id 't_basic_1'): field 'test_input' must be an object"),
        (
            "workflow",
            "tasks[3] (id 't_basic_1'): field 'workflow.optimal_sequence[1]' names unknown tool "
            "'teleporter'",
        ),
        ("workflow shape", "field 'workflow' must be an object or null"),
        ("duplicate", "tasks[3]: id 't_simple_1' repeats tasks[0]"),
        ("tasks", "field 'tasks' must be a list of tasks"),
    ],
)
def test_a_broken_task_is_one_line_naming_file_position_and_field(
    tmp_path: Path, change: str, message: str
) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(UsageError) as caught:
        load_tasks(path, TOOLS)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_json_file_that_does_not_parse_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    path.write_text('{"tasks": [\n  {"id": "a",}\n]}')
    with pytest.raises(UsageError, match=r"lib.json:2:14: not JSON"):
        load_tasks(path, TOOLS)


def test_an_empty_task_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no task"):
        load_tasks(_write(tmp_path, {"tasks": []}), TOOLS)


def test_json_lines_still_load_and_may_name_tools_of_a_loaded_registry(tmp_path: Path) -> None:
    line = {
        "task_id": "mine",
        "task_type": "basic_task",
        "difficulty": "very_hard",
        "description": "Save a summary.",
        "required_tools": ["storage_loader_2", "text_tokenizer", "text_summarizer"],
    }
    path = tmp_path / "tasks.json"  # one line of JSON lines, named .json: still JSON lines
    path.write_text(json.dumps(line) + "\n")
    task = load_tasks(path, TOOLS).task_for("basic_task", "very_hard", 3)
    assert task.required_tools == ("storage_loader", "text_tokenizer", "text_summarizer")
    assert task.complexity is None and task.optimal_workflow is None


def test_the_filter_keeps_the_chosen_types_and_difficulties() -> None:
    library = load_tasks(LIBRARY, TOOLS)
    chosen = library.filter(task_types=["simple_task", "api_integration"], difficulties=["easy"])
    assert [t.task_id for t in chosen.tasks] == [
        "t_simple_1",
        "t_simple_2",
        "t_simple_3",
        "t_api_1",
        "t_api_2",
    ]
    assert chosen.sources == library.sources and chosen.rule == library.rule
    assert [t.task_id for t in library.filter(task_types=["multi_stage_pipeline"]).tasks] == [
        "t_multi_1"
    ] * len(DIFFICULTIES)
    assert library.filter().tasks == library.tasks


def test_the_summary_counts_tasks_per_type_and_difficulty_with_complexities() -> None:
    summary = load_tasks(PATTERN, TOOLS).summary()
    assert summary.rows() == [
        {
            "task_type": "simple_task",
            "difficulty": "easy",
            "tasks": 1,
            "complexities": {"easy": 1},
            "with_workflow": 0,
        },
        {
            "task_type": "simple_task",
            "difficulty": "hard",
            "tasks": 1,
            "complexities": {"easy": 1},
            "with_workflow": 0,
        },
        {
            "task_type": "api_integration",
            "difficulty": "easy",
            "tasks": 1,
            "complexities": {"medium": 1},
            "with_workflow": 0,
        },
        {
            "task_type": "api_integration",
            "difficulty": "hard",
            "tasks": 1,
            "complexities": {"medium": 1},
            "with_workflow": 0,
        },
    ]
    as_dict = summary.to_dict()
    assert as_dict["difficulty_from"] == "file"
    assert as_dict["tasks"] == 4
    assert as_dict["digest"] == load_tasks(PATTERN, TOOLS).digest()
    sources = as_dict["sources"]
    assert isinstance(sources, list) and len(sources) == 5
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_the_summary_counts_pre_generated_workflows() -> None:
    rows = load_tasks(WITH_WORKFLOWS, TOOLS).summary().rows()
    assert [(r["task_type"], r["tasks"], r["with_workflow"]) for r in rows] == [
        ("simple_task", 1, 1),
        ("api_integration", 2, 1),
    ]


def test_the_builtin_library_summary_has_every_cell() -> None:
    from runbench.workload.tasks import TASKS_PER_CELL, builtin_library

    summary = builtin_library().summary()
    assert summary.to_dict()["sources"] == "built-in"
    assert summary.to_dict()["difficulty_from"] == "generated"
    assert len(summary.cells) == len(TASK_TYPES) * len(DIFFICULTIES)
    assert {cell.tasks for cell in summary.cells} == {TASKS_PER_CELL}
    assert builtin_library().missing_cells(TASK_TYPES, DIFFICULTIES) == ()
    assert builtin_registry().is_builtin
