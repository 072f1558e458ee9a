"""Properties over WorkflowBench's registry format: any well-formed file loads and behaves.

Registries are generated in ``tool_registry.json``'s shape (names, descriptions, parameters,
returns, errors, acyclic dependencies, metadata) and go through the loader, WorkflowBench's name
matching, search, tool details and tool outcomes.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbench.workload.simulator import ToolSimulator
from runbench.workload.tools import ToolRegistry
from runbench.workload.wb_feedback import KeywordRanker, search_results, tool_details
from runbench.workload.wb_parse import match_tool, resolve_calls
from runbench.workload.wb_registry import load_tool_registry

_WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)
_CODES = st.sampled_from(["INVALID_INPUT", "TIMEOUT", "OPERATION_FAILED", "NETWORK_ERROR"])


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    """A registry document: 1-8 tools, each depending only on tools before it (acyclic)."""
    names = draw(
        st.lists(st.tuples(_WORD, _WORD).map("_".join), min_size=1, max_size=8, unique=True)
    )
    document: dict[str, Any] = {}
    for index, name in enumerate(names):
        parameters = [
            {
                "name": parameter,
                "type": draw(st.sampled_from(["string", "number", "object", "boolean"])),
                "description": draw(_WORD),
                "required": draw(st.booleans()),
                "default": None,
            }
            for parameter in draw(st.lists(_WORD, max_size=3, unique=True))
        ]
        errors = [
            {"code": code, "description": draw(_WORD)}
            for code in draw(st.lists(_CODES, max_size=3, unique=True))
        ]
        document[name] = {
            "name": name,
            "description": " ".join(draw(st.lists(_WORD, min_size=1, max_size=5))),
            "parameters": parameters,
            "returns": [{"name": "success", "type": "boolean", "description": "ok"}],
            "errors": errors,
            "dependencies": draw(st.lists(st.sampled_from(names[:index]), unique=True))
            if index
            else [],
            "metadata": {"category": name.split("_")[0]},
        }
    return document


def _load(document: dict[str, Any]) -> ToolRegistry:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tool_registry.json"
        path.write_text(json.dumps(document))
        return load_tool_registry(path)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(registries())
def test_any_registry_loads_in_file_order_with_its_entries_and_the_all_rule(
    document: dict[str, Any],
) -> None:
    tools = _load(document)
    assert list(tools) == list(document)
    assert tools.dependency_rule == "all"
    assert {name: dict(spec) for name, spec in tools.specs.items()} == document
    for name, entry in document.items():
        assert tools[name].dependencies == tuple(entry["dependencies"])


@PROPERTY
@given(registries(), st.data())
def test_every_name_resolves_to_itself_however_it_is_cased(
    document: dict[str, Any], data: st.DataObject
) -> None:
    tools = _load(document)
    names = list(tools)
    name = data.draw(st.sampled_from(names))
    assert match_tool(name, names) == name
    assert match_tool(name.upper(), names) == name
    assert resolve_calls(f"<tool_call>{name.upper()}</tool_call>", names) == (name,)
    # a body that contains a name resolves to the first registry tool it contains
    found = match_tool(f"{name} {{}}", names)
    assert found is not None and names.index(found) <= names.index(name)


@PROPERTY
@given(registries(), st.data())
def test_searching_a_tools_name_ranks_it_among_the_best_and_shows_only_registry_tools(
    document: dict[str, Any], data: st.DataObject
) -> None:
    tools = _load(document)
    name = data.draw(st.sampled_from(list(tools)))
    ranked = KeywordRanker(tools).rank(name.replace("_", " "), len(tools))
    best = max(score for _, score in ranked)
    assert (name, best) in ranked
    text = asyncio.run(search_results([name.replace("_", " ")], KeywordRanker(tools), tools))
    listed = [line.split(". ", 1)[1] for line in text.splitlines() if line[:1].isdigit()]
    assert listed and set(listed) <= set(tools)
    details = tool_details([name], tools)
    assert f"=== {name} ===\nDescription: {document[name]['description']}" in details


@PROPERTY
@given(registries(), st.data())
def test_failures_draw_only_the_tools_own_codes(
    document: dict[str, Any], data: st.DataObject
) -> None:
    tools = _load(document)
    name = data.draw(st.sampled_from(list(tools)))
    simulator = ToolSimulator(
        data.draw(st.text("0123456789abcdef", min_size=32, max_size=32)), 0.0, tools
    )
    results = [simulator.call_workflowbench(name) for _ in range(20)]
    own = {error["code"] for error in document[name]["errors"]}
    allowed = own or {
        "OPERATION_FAILED",
        "INVALID_INPUT",
        "TIMEOUT",
        "DEPENDENCY_ERROR",
        "RESOURCE_ERROR",
    }
    assert {r.error_code for r in results if not r.success} <= allowed
    assert all(
        r.success or (r.error_message or "").startswith(f"{r.error_code}: ") for r in results
    )
