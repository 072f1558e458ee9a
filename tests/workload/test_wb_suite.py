"""One suite-version function: another library or registry never shares test ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runbench.errors import UsageError
from runbench.plan import Cell
from runbench.records import TASK_TYPES, WORKFLOW_RULES_VERSION
from runbench.workload.suite import load_workload, suite_version
from runbench.workload.tasks import builtin_library, load_tasks
from runbench.workload.tools import builtin_registry
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES

WB = FIXTURES / "wb"
TOOLS = load_tool_registry(WB / "tool_registry.json")
LIBRARY = load_tasks(WB / "task_library.json", TOOLS)

_JSONL_TASK = {
    "task_id": "mine-1",
    "task_type": "basic_task",
    "difficulty": "easy",
    "description": "Do it.",
    "required_tools": ["file_reader", "data_parser"],
}


def _jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(_JSONL_TASK) + "\n")
    return path


def test_the_builtin_library_and_tools_get_the_rules_version_alone() -> None:
    assert suite_version(builtin_library(), builtin_registry(), base="1") == "1"
    assert suite_version(builtin_library(), builtin_registry()) == WORKFLOW_RULES_VERSION


def test_a_json_lines_library_keeps_the_id_it_had_before_registries(tmp_path: Path) -> None:
    library = load_tasks(_jsonl(tmp_path))
    version = suite_version(library, builtin_registry(), base="1")
    # the exact value runs of this file recorded before registries (computed with that code):
    # stores written then stay valid
    assert version == "custom-c9b8aa7c3380"
    assert re.fullmatch(r"custom-[0-9a-f]{12}", version)
    # under today's rules the same file gets a new id, so old rows never count as done
    assert suite_version(library, builtin_registry()).startswith(f"{WORKFLOW_RULES_VERSION}+lib-")


def test_a_workflowbench_library_names_both_digests() -> None:
    version = suite_version(LIBRARY, TOOLS)
    rules = WORKFLOW_RULES_VERSION
    assert version == f"{rules}+lib-{LIBRARY.digest()[:8]}+reg-{TOOLS.digest()[:8]}"
    assert re.fullmatch(rf"{rules}\+lib-[0-9a-f]{{8}}\+reg-[0-9a-f]{{8}}", version)


def test_a_json_lines_library_with_a_loaded_registry_names_both_digests(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({**_JSONL_TASK, "required_tools": ["storage_loader"]}) + "\n")
    library = load_tasks(path, TOOLS)
    assert suite_version(library, TOOLS).endswith(f"+reg-{TOOLS.digest()[:8]}")


def test_two_libraries_or_two_registries_never_share_a_suite_version(tmp_path: Path) -> None:
    pattern = load_tasks(WB / "difficulty_versions" / "tasks_{difficulty}.json", TOOLS)
    document = json.loads((WB / "tool_registry.json").read_text())
    document["web_sender"]["dependencies"] = []
    other_tools_path = tmp_path / "tool_registry.json"
    other_tools_path.write_text(json.dumps(document))
    other_tools = load_tool_registry(other_tools_path)
    versions = {
        suite_version(LIBRARY, TOOLS),
        suite_version(pattern, TOOLS),
        suite_version(LIBRARY, other_tools),
        suite_version(builtin_library(), builtin_registry()),
        suite_version(load_tasks(_jsonl(tmp_path)), builtin_registry()),
    }
    assert len(versions) == 5


def test_a_new_rule_set_gives_every_library_a_new_suite_version(tmp_path: Path) -> None:
    library = load_tasks(_jsonl(tmp_path))
    assert suite_version(builtin_library(), builtin_registry(), base="2") == "2"
    # under new rules a JSON-lines library no longer reuses the ids of rule set 1
    assert suite_version(library, builtin_registry(), base="2") == (
        f"2+lib-{library.digest()[:8]}+reg-{builtin_registry().digest()[:8]}"
    )
    assert suite_version(LIBRARY, TOOLS, base="2").startswith("2+lib-")


def test_the_suite_version_separates_test_ids_of_the_same_cell() -> None:
    def test_id(version: str) -> str:
        cell = Cell("workflow", version, "sim-oracle", "optimal", "hard", "api_integration", 0.8)
        return cell.test_id(0)

    ours = test_id(suite_version(LIBRARY, TOOLS))
    assert ours != test_id("1")
    pattern = load_tasks(WB / "difficulty_versions" / "tasks_{difficulty}.json", TOOLS)
    assert ours != test_id(suite_version(pattern, TOOLS))


def test_filtering_a_listing_does_not_change_the_whole_librarys_version() -> None:
    whole = suite_version(LIBRARY, TOOLS)
    LIBRARY.filter(task_types=["simple_task"])
    assert suite_version(LIBRARY, TOOLS) == whole


def test_load_workload_defaults_to_the_builtin_tasks_and_tools() -> None:
    workload = load_workload()
    assert workload.library is builtin_library() and workload.tools is builtin_registry()
    assert workload.suite_version() == WORKFLOW_RULES_VERSION


def test_load_workload_checks_the_tasks_against_the_registry_it_loads() -> None:
    workload = load_workload(WB / "task_library.json", WB / "tool_registry.json")
    assert workload.suite_version() == suite_version(LIBRARY, TOOLS)
    assert workload.library.task_for("simple_task", "easy", 1).required_tools == (
        "storage_loader",
        "text_tokenizer",
    )
    # the one main file serves every difficulty (no per-difficulty file beside it)
    missing = workload.missing_cells(TASK_TYPES, ["easy", "medium", "hard"])
    assert {m.task_type for m in missing} == {"data_pipeline"}  # the fixture has none


def test_load_workload_takes_a_difficulty_pattern_as_a_string() -> None:
    pattern = str(WB / "difficulty_versions" / "tasks_{difficulty}_with_workflows.json")
    workload = load_workload(pattern, WB / "tool_registry.json")
    assert workload.library.rule == "file"
    assert workload.library.task_for("simple_task", "easy", 0).optimal_workflow


def test_a_registry_without_tasks_is_refused_with_the_fix() -> None:
    with pytest.raises(UsageError, match="needs a task library made with it") as caught:
        load_workload(tools=WB / "tool_registry.json")
    assert caught.value.hint and "--tasks" in caught.value.hint


def test_the_workload_dict_names_sources_digests_and_suite_version() -> None:
    as_dict = load_workload(WB / "task_library.json", WB / "tool_registry.json").to_dict()
    assert as_dict["suite_version"] == suite_version(LIBRARY, TOOLS)
    tasks = as_dict["tasks"]
    tools = as_dict["tools"]
    assert isinstance(tasks, dict) and isinstance(tools, dict)
    assert tasks["digest"] == LIBRARY.digest() and tasks["tasks"] == 7 * 5  # every difficulty
    assert tools == {
        "source": str(WB / "tool_registry.json"),
        "digest": TOOLS.digest(),
        "tools": 6,
        "categories": {"helper": 1, "storage": 2, "text": 2, "web": 1},
    }
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_a_task_as_a_dict_leaves_out_what_it_does_not_have() -> None:
    plain = builtin_library().tasks[0].to_dict()
    assert "complexity" not in plain and "optimal_workflow" not in plain
    assert isinstance(plain["required_tools"], list)
    planned = load_tasks(
        WB / "difficulty_versions" / "tasks_{difficulty}_with_workflows.json", TOOLS
    ).tasks[0]
    assert planned.to_dict()["optimal_workflow"] == ["storage_loader", "text_tokenizer"]
    assert planned.to_dict()["complexity"] == "easy"
