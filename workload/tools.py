"""The tool registry of the workflow benchmark: 30 tools, 6 categories × 5 operations.

Each tool has typed parameters, a return description, error codes (three shared ones plus its
category's own) and dependencies. A dependency list means "needs the output of at least one of
these earlier in the workflow"; the lists form an acyclic graph (checked at import by
``_check_acyclic``), so every task's ordered tool chain can be built from sources forward.
``similar_to`` names a tool that sounds alike but does something else (the semantic-drift flaw
swaps to it).

A ``ToolRegistry`` is the read-only mapping a run uses: the built-in one (``builtin_registry``) or
one loaded from a WorkflowBench ``tool_registry.json`` (``wb_registry.load_tool_registry``). Its
digest names it in the suite version, so results of two registries never share test ids.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

# raw JSON as read from a file (a parameter's default or constraints, a task's inputs)
JsonValue: TypeAlias = Any
# how a tool's dependency list reads: every tool needed, or any one of them (ToolRegistry)
DependencyRule = Literal["all", "any"]
ParameterType = Literal["string", "integer", "number", "boolean", "object", "array"]
SHARED_ERRORS = ("INVALID_INPUT", "OPERATION_FAILED", "TIMEOUT")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParameterType
    description: str
    required: bool = True
    default: JsonValue = None
    # WorkflowBench's per-parameter constraints (e.g. {"min": 0}), kept as given
    constraints: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    category: str
    description: str
    parameters: tuple[Parameter, ...]
    returns: str
    errors: tuple[str, ...]
    dependencies: tuple[str, ...]
    similar_to: str
    # other names the tool answers to (WorkflowBench's ``aliases``); tasks may use them
    aliases: tuple[str, ...] = ()
    # what each error code means, when the registry says so (WorkflowBench's ``errors``)
    error_descriptions: dict[str, str] = field(default_factory=dict)

    def openai_function(self) -> dict[str, object]:
        """The tool as an OpenAI function definition (the native protocol)."""
        types = {p.name: {"type": p.type, "description": p.description} for p in self.parameters}
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": types,
                    "required": [p.name for p in self.parameters if p.required],
                },
            },
        }


CATEGORY_ERRORS: Mapping[str, tuple[str, ...]] = {
    "file": ("FILE_NOT_FOUND", "PERMISSION_DENIED"),
    "network": ("CONNECTION_REFUSED", "HTTP_ERROR"),
    "data": ("SCHEMA_MISMATCH", "PARSE_ERROR"),
    "compute": ("NUMERIC_OVERFLOW", "INSUFFICIENT_DATA"),
    "integration": ("AUTH_EXPIRED", "REMOTE_REJECTED"),
    "utility": ("QUOTA_EXCEEDED", "FORMAT_UNSUPPORTED"),
}


def _p(
    name: str,
    type_: ParameterType,
    description: str,
    default: str | int | float | bool | None = None,
) -> Parameter:
    return Parameter(name, type_, description, required=default is None, default=default)


def _tool(
    name: str,
    description: str,
    parameters: tuple[Parameter, ...],
    returns: str,
    dependencies: tuple[str, ...],
    similar_to: str,
) -> Tool:
    category = name.split("_", 1)[0]
    return Tool(
        name,
        category,
        description,
        parameters,
        returns,
        SHARED_ERRORS + CATEGORY_ERRORS[category],
        dependencies,
        similar_to,
    )


_SOURCE = ("file_reader", "network_fetcher")
_TOOLS = (
    # file: where data comes from and goes to
    _tool(
        "file_reader",
        "Read a file and return its raw content.",
        (_p("path", "string", "file to read"), _p("encoding", "string", "text encoding", "utf-8")),
        "raw content and its size in bytes",
        (),
        "file_lister",
    ),
    _tool(
        "file_writer",
        "Write content to a file, creating folders as needed.",
        (
            _p("path", "string", "file to write"),
            _p("content", "object", "what to write"),
            _p("overwrite", "boolean", "replace an existing file", False),
        ),
        "the path written and bytes written",
        ("data_transformer", "data_aggregator", "utility_formatter", "compute_sorter"),
        "file_converter",
    ),
    _tool(
        "file_lister",
        "List the files of a folder that match a pattern.",
        (_p("folder", "string", "folder to list"), _p("pattern", "string", "glob pattern", "*")),
        "matching paths",
        (),
        "file_reader",
    ),
    _tool(
        "file_compressor",
        "Compress a file into an archive.",
        (
            _p("path", "string", "file to compress"),
            _p("level", "integer", "compression level 1-9", 6),
        ),
        "archive path and compression ratio",
        ("file_writer",),
        "utility_archiver",
    ),
    _tool(
        "file_converter",
        "Convert a file between formats (csv, json, parquet).",
        (
            _p("path", "string", "file to convert"),
            _p("target_format", "string", "csv, json or parquet"),
        ),
        "converted file path",
        ("file_reader",),
        "utility_formatter",
    ),
    # network: remote data and services
    _tool(
        "network_fetcher",
        "Fetch a resource over HTTP(S).",
        (_p("url", "string", "resource URL"), _p("timeout_s", "number", "request timeout", 30)),
        "status code and body",
        (),
        "network_monitor",
    ),
    _tool(
        "network_poster",
        "Send data to an HTTP endpoint with POST.",
        (_p("url", "string", "endpoint URL"), _p("payload", "object", "JSON body")),
        "status code and response body",
        ("data_transformer", "utility_formatter", "integration_mapper"),
        "network_webhook",
    ),
    _tool(
        "network_authenticator",
        "Obtain an access token from an identity provider.",
        (
            _p("provider", "string", "identity provider"),
            _p("scope", "string", "requested scope", "read"),
        ),
        "an access token and its expiry",
        (),
        "integration_connector",
    ),
    _tool(
        "network_monitor",
        "Check the health and latency of an endpoint.",
        (_p("url", "string", "endpoint URL"),),
        "availability and latency",
        (),
        "network_fetcher",
    ),
    _tool(
        "network_webhook",
        "Trigger a webhook with an event.",
        (_p("url", "string", "webhook URL"), _p("event", "object", "event body")),
        "delivery receipt",
        ("network_authenticator",),
        "network_poster",
    ),
    # data: turning raw content into clean records
    _tool(
        "data_parser",
        "Parse raw content (csv, json, xml) into records.",
        (_p("content", "object", "raw content"), _p("format", "string", "csv, json or xml")),
        "records and their schema",
        _SOURCE,
        "data_validator",
    ),
    _tool(
        "data_validator",
        "Validate records against a schema and report violations.",
        (_p("records", "array", "records to check"), _p("schema", "object", "expected schema")),
        "valid records and the list of violations",
        ("data_parser",),
        "data_filter",
    ),
    _tool(
        "data_transformer",
        "Transform records: rename, cast and derive fields.",
        (
            _p("records", "array", "records to transform"),
            _p("rules", "object", "transformation rules"),
        ),
        "transformed records",
        ("data_parser", "data_validator"),
        "integration_mapper",
    ),
    _tool(
        "data_filter",
        "Keep the records that match a condition.",
        (
            _p("records", "array", "records to filter"),
            _p("condition", "string", "filter expression"),
        ),
        "matching records",
        ("data_parser",),
        "data_validator",
    ),
    _tool(
        "data_aggregator",
        "Group records and aggregate fields.",
        (
            _p("records", "array", "records"),
            _p("group_by", "array", "grouping fields"),
            _p("metrics", "object", "aggregations per field"),
        ),
        "aggregated rows",
        ("data_transformer", "data_filter"),
        "compute_statistics",
    ),
    # compute: numbers from records
    _tool(
        "compute_calculator",
        "Evaluate an arithmetic expression.",
        (_p("expression", "string", "expression to evaluate"),),
        "the value",
        (),
        "compute_statistics",
    ),
    _tool(
        "compute_statistics",
        "Compute descriptive statistics of numeric fields.",
        (_p("records", "array", "records"), _p("fields", "array", "numeric fields")),
        "mean, median, deviation and quantiles",
        ("data_parser", "data_filter"),
        "data_aggregator",
    ),
    _tool(
        "compute_sorter",
        "Sort records by one or more keys.",
        (
            _p("records", "array", "records"),
            _p("keys", "array", "sort keys"),
            _p("descending", "boolean", "sort descending", False),
        ),
        "sorted records",
        ("data_parser",),
        "data_filter",
    ),
    _tool(
        "compute_deduplicator",
        "Remove duplicate records by key.",
        (_p("records", "array", "records"), _p("key", "array", "fields that identify a record")),
        "unique records and the count removed",
        ("data_parser",),
        "data_filter",
    ),
    _tool(
        "compute_predictor",
        "Forecast the next values of a series.",
        (_p("series", "array", "observations"), _p("horizon", "integer", "steps ahead", 3)),
        "forecast with intervals",
        ("compute_statistics",),
        "compute_calculator",
    ),
    # integration: other systems
    _tool(
        "integration_mapper",
        "Map fields from one schema to another.",
        (_p("records", "array", "records"), _p("mapping", "object", "source → target fields")),
        "records in the target schema",
        ("data_parser",),
        "data_transformer",
    ),
    _tool(
        "integration_connector",
        "Open a session with an external system.",
        (_p("system", "string", "system name"), _p("token", "string", "access token")),
        "session handle",
        ("network_authenticator",),
        "network_authenticator",
    ),
    _tool(
        "integration_syncer",
        "Synchronise records into an external system.",
        (_p("session", "string", "session handle"), _p("records", "array", "records to sync")),
        "records created, updated and rejected",
        ("integration_connector",),
        "integration_queue",
    ),
    _tool(
        "integration_queue",
        "Publish messages to a queue.",
        (_p("session", "string", "session handle"), _p("messages", "array", "messages")),
        "message ids",
        ("integration_connector",),
        "utility_notifier",
    ),
    _tool(
        "integration_scheduler",
        "Schedule a job to run later or repeatedly.",
        (_p("job", "string", "job name"), _p("cron", "string", "cron expression")),
        "schedule id and next run",
        (),
        "utility_logger",
    ),
    # utility: the finishing touches
    _tool(
        "utility_logger",
        "Append an entry to the run log.",
        (_p("message", "string", "log message"), _p("level", "string", "log level", "info")),
        "log entry id",
        (),
        "utility_notifier",
    ),
    _tool(
        "utility_cache",
        "Store a value in the cache under a key.",
        (
            _p("key", "string", "cache key"),
            _p("value", "object", "value"),
            _p("ttl_s", "integer", "time to live", 3600),
        ),
        "cache receipt",
        (),
        "file_writer",
    ),
    _tool(
        "utility_notifier",
        "Notify a person or channel.",
        (_p("channel", "string", "email address or channel"), _p("message", "string", "text")),
        "delivery status",
        (),
        "utility_logger",
    ),
    _tool(
        "utility_formatter",
        "Format records or results as a readable report.",
        (
            _p("data", "object", "what to format"),
            _p("style", "string", "table, markdown or json", "markdown"),
        ),
        "the formatted report",
        ("data_transformer", "data_aggregator", "compute_statistics", "compute_sorter"),
        "file_converter",
    ),
    _tool(
        "utility_archiver",
        "Archive outputs with a retention policy.",
        (
            _p("paths", "array", "files to archive"),
            _p("retention_days", "integer", "days to keep", 30),
        ),
        "archive id",
        ("file_writer",),
        "file_compressor",
    ),
)

CATEGORIES = tuple(dict.fromkeys(tool.category for tool in _TOOLS))


def registry() -> ToolRegistry:
    """The built-in tools: the very object ``builtin_registry`` returns, so runs and tests agree."""
    return builtin_registry()


def _check_acyclic(tools: Mapping[str, Tool]) -> None:
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 1:
            raise ValueError(f"tool dependencies form a cycle through {name}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for dependency in tools[name].dependencies:
            visit(dependency)
        state[name] = 2

    for name in tools:
        visit(name)


def search_tools(query: str, limit: int = 5, tools: Mapping[str, Tool] | None = None) -> list[Tool]:
    """Offline lexical search: tools ranked by words shared with name and description.

    ``tools`` is the run's registry (default: the built-in one), so a model searching during a
    run with a loaded registry finds that registry's tools.
    """
    words = {word for word in query.lower().replace("_", " ").split() if len(word) > 2}
    scored = []
    for index, tool in enumerate((registry() if tools is None else tools).values()):
        text = f"{tool.name.replace('_', ' ')} {tool.description} {tool.returns}".lower()
        score = sum(word in text for word in words) + 2 * sum(word in tool.name for word in words)
        if score:
            scored.append((-score, index, tool))
    return [tool for _, _, tool in sorted(scored)[:limit]]


class ToolRegistry(Mapping[str, Tool]):
    """The tools of one run by name, with where they came from and a content digest.

    A mapping, so code written against a dict of tools works with any registry. Aliases are
    resolved by ``canonical``, never by ``[]``: a run reports and scores tools under one name.

    ``dependency_rule`` is how the simulator reads a tool's ``dependencies``, carried as data so
    that every run and every test of one registry simulates the same way: ``any`` (the list is
    alternatives: the built-in tools) or ``all`` (each one is needed: WorkflowBench's
    ``_calculate_success_rate``). ``specs`` keeps a loaded file's entries as written, for the
    texts WorkflowBench shows a model (search results, tool info).
    """

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        source: Path | None = None,
        is_builtin: bool = False,
        dependency_rule: DependencyRule = "all",
        specs: Mapping[str, Mapping[str, JsonValue]] | None = None,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        _check_acyclic(self._tools)
        self._aliases = {
            alias: tool.name for tool in self._tools.values() for alias in tool.aliases
        }
        self.source = source
        self.is_builtin = is_builtin
        self.dependency_rule: DependencyRule = dependency_rule
        self.specs: Mapping[str, Mapping[str, JsonValue]] = specs or {}

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def canonical(self, name: str) -> str | None:
        """The registry name that ``name`` (a name or an alias) means, or None if unknown."""
        if name in self._tools:
            return name
        return self._aliases.get(name)

    def digest(self) -> str:
        """sha256 of the canonical JSON of every tool: equal registries, equal digests."""
        payload = json.dumps(
            [asdict(tool) for tool in self._tools.values()], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def rows(self) -> list[dict[str, object]]:
        """One plain row per tool, for ``runbench tools`` to render or print as JSON."""
        return [
            {
                "tool": tool.name,
                "category": tool.category,
                "dependencies": list(tool.dependencies),
                "parameters": [p.name + ("" if p.required else "?") for p in tool.parameters],
                "errors": list(tool.errors),
                "aliases": list(tool.aliases),
            }
            for tool in self._tools.values()
        ]

    def to_dict(self) -> dict[str, object]:
        """What was loaded: source file, digest, counts, and every tool in full."""
        return {
            "source": str(self.source) if self.source else "built-in",
            "digest": self.digest(),
            "tools": len(self._tools),
            "categories": dict(
                sorted(
                    {
                        category: sum(t.category == category for t in self._tools.values())
                        for category in {t.category for t in self._tools.values()}
                    }.items()
                )
            ),
            # through JSON once, so tuples are lists and the dict equals what it prints
            "registry": json.loads(json.dumps([asdict(tool) for tool in self._tools.values()])),
        }


@functools.cache
def builtin_registry() -> ToolRegistry:
    """The 30 built-in tools as a ``ToolRegistry`` (the default of every run)."""
    return ToolRegistry(_TOOLS, is_builtin=True, dependency_rule="any")
