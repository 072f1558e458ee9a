"""A WorkflowBench tool_registry.json loads with its names, parameters, dependencies, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runbench.config import load_config
from runbench.errors import ConfigError, UsageError
from runbench.workload.tools import builtin_registry, registry, search_tools
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES

WB = FIXTURES / "wb"
REGISTRY = WB / "tool_registry.json"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(REGISTRY.read_text())
    return document


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "tool_registry.json"
    path.write_text(json.dumps(document))
    return path


def test_names_parameters_dependencies_and_error_codes_are_read() -> None:
    tools = load_tool_registry(REGISTRY)
    assert list(tools) == [
        "storage_loader",
        "text_tokenizer",
        "text_summarizer",
        "storage_saver",
        "web_sender",
        "helper_clock",
    ]
    tokenizer = tools["text_tokenizer"]
    assert tokenizer.category == "text"
    assert tokenizer.dependencies == ("storage_loader",)
    assert [(p.name, p.type, p.required) for p in tokenizer.parameters] == [
        ("text", "string", True),
        ("limit", "number", False),
    ]
    assert tokenizer.parameters[1].default == 512
    assert tokenizer.parameters[1].constraints == {"min": 1}
    assert tokenizer.errors == ("INVALID_INPUT", "TIMEOUT", "ENCODING_ERROR")
    assert tokenizer.error_descriptions["ENCODING_ERROR"] == "text is not UTF-8"
    assert tokenizer.returns == "success (boolean), output (object)"
    assert tools["storage_saver"].dependencies == ("text_summarizer", "text_tokenizer")
    assert tools["storage_loader"].parameters[1].default == {}
    assert tools.source == REGISTRY and not tools.is_builtin


def test_aliases_resolve_to_the_one_registry_name() -> None:
    tools = load_tool_registry(REGISTRY)
    assert tools["storage_loader"].aliases == ("storage_loader_2",)
    assert tools.canonical("storage_loader_2") == "storage_loader"
    assert tools.canonical("storage_loader") == "storage_loader"
    assert tools.canonical("nope") is None
    assert "storage_loader_2" not in tools  # [] and `in` see registry names only


def test_similar_to_is_the_next_tool_of_the_same_category() -> None:
    tools = load_tool_registry(REGISTRY)
    assert tools["storage_loader"].similar_to == "storage_saver"
    assert tools["storage_saver"].similar_to == "storage_loader"
    assert tools["text_tokenizer"].similar_to == "text_summarizer"
    # alone in its category: the next tool of the registry, never itself
    assert tools["web_sender"].similar_to == "helper_clock"
    assert tools["helper_clock"].similar_to == "storage_loader"


def test_a_loaded_tool_offers_an_openai_function_with_its_required_parameters() -> None:
    function = load_tool_registry(REGISTRY)["web_sender"].openai_function()["function"]
    assert isinstance(function, dict)
    assert function["name"] == "web_sender"
    assert function["parameters"]["required"] == ["url", "payload"]


def test_the_digest_changes_with_the_content_and_only_with_it(tmp_path: Path) -> None:
    same = load_tool_registry(_write(tmp_path, _document()))
    assert same.digest() == load_tool_registry(REGISTRY).digest()
    changed = _document()
    changed["web_sender"]["errors"].append({"code": "GONE", "description": "endpoint gone"})
    assert load_tool_registry(_write(tmp_path, changed)).digest() != same.digest()


def test_the_builtin_registry_is_the_same_tools_as_registry() -> None:
    builtin = builtin_registry()
    assert builtin.is_builtin and builtin.source is None
    assert dict(builtin) == registry()


def test_rows_and_to_dict_say_what_was_loaded() -> None:
    tools = load_tool_registry(REGISTRY)
    rows = tools.rows()
    assert rows[1] == {
        "tool": "text_tokenizer",
        "category": "text",
        "dependencies": ["storage_loader"],
        "parameters": ["text", "limit?"],
        "errors": ["INVALID_INPUT", "TIMEOUT", "ENCODING_ERROR"],
        "aliases": [],
    }
    summary = tools.to_dict()
    assert summary["source"] == str(REGISTRY)
    assert summary["digest"] == tools.digest()
    assert summary["tools"] == 6
    assert summary["categories"] == {"helper": 1, "storage": 2, "text": 2, "web": 1}
    assert json.loads(json.dumps(summary)) == summary  # printable as JSON as it is


def _broken(change: str) -> dict[str, Any]:
    document = _document()
    if change == "parameter type":
        document["text_tokenizer"]["parameters"][1]["type"] = "float"
    elif change == "unknown dependency":
        document["web_sender"]["dependencies"] = ["text_summarizer", "mailer"]
    elif change == "cycle":
        document["storage_loader"]["dependencies"] = ["storage_saver"]
    elif change == "alias clash":
        document["helper_clock"]["aliases"] = ["storage_loader_2"]
    elif change == "name mismatch":
        document["helper_clock"]["name"] = "clock"
    elif change == "error without code":
        document["web_sender"]["errors"].append({"description": "no code"})
    elif change == "no description":
        del document["text_summarizer"]["description"]
    elif change == "parameters not a list":
        document["text_summarizer"]["parameters"] = {"tokens": "object"}
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "parameter type",
            "tool 'text_tokenizer': field 'parameters[1].type' must be one of string, integer",
        ),
        (
            "unknown dependency",
            "tool 'web_sender': field 'dependencies[1]' names unknown tool 'mailer'",
        ),
        ("cycle", "tool dependencies form a cycle through"),
        ("alias clash", "tool 'helper_clock': alias 'storage_loader_2' already names tool"),
        ("name mismatch", "tool 'helper_clock': field 'name' is 'clock', not its key"),
        (
            "error without code",
            "tool 'web_sender': field 'errors[3]' must be an object with a code",
        ),
        ("no description", "tool 'text_summarizer': field 'description' must be a non-empty"),
        ("parameters not a list", "tool 'text_summarizer': field 'parameters' must be a list"),
    ],
)
def test_a_broken_registry_is_one_line_naming_file_tool_and_field(
    tmp_path: Path, change: str, message: str
) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(UsageError) as caught:
        load_tool_registry(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_registry_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "tool_registry.json"
    path.write_text('{\n  "a": {\n    "name": "a",,\n')
    with pytest.raises(UsageError, match=r"tool_registry.json:3:17: not JSON") as caught:
        load_tool_registry(path)
    assert caught.value.hint and "--tools" in caught.value.hint


@pytest.mark.parametrize("document", [[], {}, "tools"])
def test_a_registry_must_be_an_object_of_tools(tmp_path: Path, document: object) -> None:
    with pytest.raises(UsageError, match="must be a non-empty JSON object"):
        load_tool_registry(_write(tmp_path, document))


def test_a_missing_registry_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read tool registry"):
        load_tool_registry(tmp_path / "absent.json")


def test_runbench_toml_names_a_registry_relative_to_its_own_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "runbench.toml"
    config.write_text('tools = "wb/tool_registry.json"\n')
    assert load_config(config).tools == folder / "wb" / "tool_registry.json"
    absolute = tmp_path / "elsewhere.json"
    config.write_text(f'tools = "{absolute}"\n')
    assert load_config(config).tools == absolute
    config.write_text("[models]\n")
    assert load_config(config).tools is None
    assert load_config(None).tools is None


def test_a_tools_entry_that_is_not_a_path_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text("tools = 3\n")
    with pytest.raises(ConfigError, match=r"'tools' must be the path of a tool_registry\.json"):
        load_config(config)


def test_search_finds_the_tools_of_a_loaded_registry() -> None:
    tools = load_tool_registry(REGISTRY)
    names = [tool.name for tool in search_tools("summarise the tokens", tools=tools)]
    assert names[0] == "text_summarizer"
    assert all(name in tools for name in names)
    assert search_tools("summarise the tokens") == search_tools(
        "summarise the tokens", tools=builtin_registry()
    )
