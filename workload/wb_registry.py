"""Read a WorkflowBench ``tool_registry.json`` into a ``ToolRegistry``, unchanged in meaning.

The file is one JSON object: tool name → {name, description, parameters [{name, type,
description, required, default, constraints}], returns [{name, type, description}], errors
[{code, description}], dependencies [tool names], metadata {category, …}, aliases [...], …}
(``mcp_generated_library/tool_registry.json`` in WorkflowBench). Fields runbench does not use
(``differentiation``, ``dependency_metadata``, timestamps) are read past, never required.

Two runbench fields have no WorkflowBench source and are derived, documented here once:

- ``category`` is ``metadata.category`` (e.g. ``file_operations``), else the name's first word;
- ``similar_to`` (the tool the semantic-drift flaw swaps in) is the next tool of the same
  category in file order, wrapping around; a tool alone in its category gets the next tool.

Every error names the file and the tool and field at fault, in one line, so a user can fix it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import get_args

from runbench.errors import UsageError
from runbench.workload.tools import JsonValue, Parameter, ParameterType, Tool, ToolRegistry

_PARAMETER_TYPES = get_args(ParameterType)


def load_tool_registry(path: Path) -> ToolRegistry:
    """Load and validate a WorkflowBench tool registry.

    Raises:
        UsageError: the file cannot be read, is not JSON, or a tool is malformed; the message
            names the file, the tool and the field (``parameters[1].type``), or the JSON position.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read tool registry {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path}:{error.lineno}:{error.colno}: not JSON ({error.msg})",
            hint="--tools takes a WorkflowBench tool_registry.json",
        ) from None
    if not isinstance(document, dict) or not document:
        raise UsageError(
            f"{path}: a tool registry must be a non-empty JSON object of tool name → tool",
            hint="--tools takes a WorkflowBench tool_registry.json",
        )
    parsed = [_tool(path, key, entry) for key, entry in document.items()]
    names = {tool.name for tool in parsed}
    for tool in parsed:
        for position, dependency in enumerate(tool.dependencies):
            if dependency not in names:
                raise UsageError(
                    f"{path}: tool '{tool.name}': field 'dependencies[{position}]' names "
                    f"unknown tool '{dependency}'"
                )
    _check_aliases(path, parsed)
    tools = [_with_similar(tool, parsed) for tool in parsed]
    try:
        return ToolRegistry(
            tools,
            source=path,
            dependency_rule="all",
            specs={key: entry for key, entry in document.items() if isinstance(entry, dict)},
        )
    except ValueError as error:  # a dependency cycle: no workflow could ever satisfy it
        raise UsageError(f"{path}: {error}") from None


def _tool(path: Path, key: str, entry: JsonValue) -> Tool:
    where = f"{path}: tool '{key}'"
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: must be a JSON object")
    name = entry.get("name", key)
    if name != key:
        raise UsageError(f"{where}: field 'name' is '{name}', not its key '{key}'")
    description = _text(entry, "description", where)
    parameters = tuple(
        _parameter(f"{where}: field 'parameters[{i}]", raw)
        for i, raw in enumerate(_list(entry, "parameters", where))
    )
    returns = _list(entry, "returns", where, required=False)
    errors = _list(entry, "errors", where, required=False)
    codes: dict[str, str] = {}
    for position, error in enumerate(errors):
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise UsageError(f"{where}: field 'errors[{position}]' must be an object with a code")
        codes[error["code"]] = str(error.get("description", ""))
    dependencies = _names(entry, "dependencies", where)
    metadata = entry.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise UsageError(f"{where}: field 'metadata' must be an object")
    category = metadata.get("category") or key.split("_", 1)[0]
    return Tool(
        name=key,
        category=str(category),
        description=description,
        parameters=parameters,
        returns=_returns_text(where, returns),
        errors=tuple(codes),
        dependencies=dependencies,
        similar_to="",  # filled by _with_similar once every tool is known
        aliases=tuple(alias for alias in _names(entry, "aliases", where) if alias != key),
        error_descriptions=codes,
    )


def _parameter(where: str, raw: JsonValue) -> Parameter:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}' must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{where}.name' must be a non-empty string")
    kind = raw.get("type")
    if kind not in _PARAMETER_TYPES:
        raise UsageError(f"{where}.type' must be one of {', '.join(_PARAMETER_TYPES)}")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise UsageError(f"{where}.required' must be true or false")
    constraints = raw.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise UsageError(f"{where}.constraints' must be an object")
    return Parameter(
        name=name,
        type=kind,  # type: ignore[arg-type]  # checked against PARAMETER_TYPES above
        description=str(raw.get("description", "")),
        required=required,
        default=raw.get("default"),
        constraints=constraints,
    )


def _returns_text(where: str, returns: list[JsonValue]) -> str:
    parts = []
    for position, field in enumerate(returns):
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise UsageError(f"{where}: field 'returns[{position}]' must be an object with a name")
        kind = field.get("type")
        parts.append(f"{field['name']} ({kind})" if kind else field["name"])
    return ", ".join(parts) or "a result object"


def _text(entry: dict[str, JsonValue], field: str, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: field '{field}' must be a non-empty string")
    return value


def _list(
    entry: dict[str, JsonValue], field: str, where: str, *, required: bool = True
) -> list[JsonValue]:
    if field not in entry and not required:
        return []
    value = entry.get(field)
    if not isinstance(value, list):
        raise UsageError(f"{where}: field '{field}' must be a list")
    return value


def _names(entry: dict[str, JsonValue], field: str, where: str) -> tuple[str, ...]:
    values = _list(entry, field, where, required=False)
    for position, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise UsageError(f"{where}: field '{field}[{position}]' must be a tool name")
    return tuple(values)


def _check_aliases(path: Path, tools: list[Tool]) -> None:
    """An alias that is another tool's name, or two tools' alias, would make a task ambiguous."""
    owner: dict[str, str] = {tool.name: tool.name for tool in tools}
    for tool in tools:
        for alias in tool.aliases:
            if owner.setdefault(alias, tool.name) != tool.name:
                raise UsageError(
                    f"{path}: tool '{tool.name}': alias '{alias}' already names "
                    f"tool '{owner[alias]}'"
                )


def _with_similar(tool: Tool, tools: list[Tool]) -> Tool:
    others = [t.name for t in tools if t.category == tool.category] if len(tools) > 1 else []
    if len(others) < 2:  # alone in its category: any other tool is a different one
        others = [t.name for t in tools]
    similar = others[(others.index(tool.name) + 1) % len(others)]
    return dataclasses.replace(tool, similar_to=similar)
