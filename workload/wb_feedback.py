"""The texts WorkflowBench's executor sends back to a model, and its tool search.

Each function names the ``InteractiveExecutor`` method whose text it writes: search results
(``_format_search_results``), tool details (``_get_tool_details``), tool outcomes
(``_execute_tools_with_feedback``), quick help for a reply with no action
(``_generate_no_action_feedback``) and format help (``_generate_format_help_message``). Tool
facts come from the registry file's own entries (``ToolRegistry.specs``), as WorkflowBench
reads them from its ``full_tool_registry``.

Search ranks tools with a ``ToolRanker``. WorkflowBench ranks with its embedding index
(``MCPEmbeddingManager.search``, top 5, kept only if the tool is in the registry); a ranker over
such an index is given by the caller. Without one, ``KeywordRanker`` is WorkflowBench's own
fallback, ``_simple_tool_search``: each query word scores 2 if it is in the tool's name and 1 if
it is in its description (lower-cased substrings), the sum over words divided by the number of
words is the relevance, and tools with a score are listed best first, ties in registry order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from runbench.workload.tools import JsonValue, ToolRegistry

SEARCH_RESULTS = 5


class ToolRanker(Protocol):
    """Ranks the registry's tools for a search query: ``(tool name, relevance)``, best first.

    Async because WorkflowBench's ranking embeds the query with a model behind an API
    (``tool_index.IndexRanker``); a run's event loop must not wait on it.
    """

    async def search(self, query: str, k: int) -> list[tuple[str, float]]: ...


class KeywordRanker:
    """WorkflowBench's keyword fallback search (see the module docstring) over one registry."""

    def __init__(self, tools: ToolRegistry) -> None:
        self._entries = [
            (name, name.lower(), str(_spec(tools, name).get("description", "")).lower())
            for name in tools
        ]

    async def search(self, query: str, k: int) -> list[tuple[str, float]]:
        return self.rank(query, k)

    def rank(self, query: str, k: int) -> list[tuple[str, float]]:
        """The ranking itself: pure, no I/O."""
        words = query.lower().split()
        if not words:
            return []
        scored = []
        for name, lowered, description in self._entries:
            score = sum(2 * (word in lowered) + (word in description) for word in words)
            if score > 0:
                scored.append((name, score / len(words)))
        scored.sort(key=lambda pair: pair[1], reverse=True)  # stable: ties keep registry order
        return scored[:k]


def _spec(tools: ToolRegistry, name: str) -> Mapping[str, JsonValue]:
    """The registry file's entry for ``name``; for the built-in tools, the same fields built."""
    spec = tools.specs.get(name)
    if spec is not None:
        return spec
    tool = tools[name]
    return {
        "description": tool.description,
        "metadata": {"category": tool.category},
        "parameters": [
            {"name": p.name, "type": p.type, "description": p.description, "required": p.required}
            for p in tool.parameters
        ],
        "returns": [],
        "errors": [
            {"code": code, "description": tool.error_descriptions.get(code, "")}
            for code in tool.errors
        ],
        "dependencies": list(tool.dependencies),
    }


def _parameter_line(param: Mapping[str, Any], indent: str) -> str:
    line = f"{indent}- {param.get('name', 'unnamed')} ({param.get('type', 'any')})"
    if param.get("description"):
        line += f": {param['description']}"
    if param.get("required", True):
        return line + " [REQUIRED]"
    line += " [OPTIONAL]"
    if "default" in param:
        line += f" default={_python_text(param['default'])}"
    return line


def _python_text(value: JsonValue) -> str:
    """A JSON value as an f-string prints it, as WorkflowBench writes defaults."""
    return str(value)


def _details(spec: Mapping[str, Any], indent: str, lines: list[str], *, search: bool) -> None:
    parameters = spec.get("parameters") or []
    if parameters:
        lines.append(f"{indent}Parameters:" if search else "\nParameters:")
        lines.extend(_parameter_line(p, indent * 2 if search else "  ") for p in parameters)
    else:
        lines.append(f"{indent}Parameters: None required")
    for field, title in (("returns", "Returns"), ("errors", "Possible Errors")):
        entries = spec.get(field) or []
        if not entries:
            continue
        lines.append(f"{indent}{title}:" if search else f"\n{title}:")
        for entry in entries:
            head = (
                f"{entry.get('name', 'unnamed')} ({entry.get('type', 'any')})"
                if field == "returns"
                else str(entry.get("code", "ERROR"))
            )
            text = f"{indent * 2 if search else '  '}- {head}"
            lines.append(text + (f": {entry['description']}" if entry.get("description") else ""))


async def search_results(
    queries: Sequence[str], ranker: ToolRanker, tools: ToolRegistry, k: int = SEARCH_RESULTS
) -> str:
    """The reply to a search turn: every query's top tools with their full entries."""
    lines = ["Tool Search Results:"]
    for query in queries:
        lines.append(f"\nQuery: '{query}'")
        found = [(name, score) for name, score in await ranker.search(query, k) if name in tools]
        if not found:
            lines.append("No matching tools found.")
            continue
        lines.append("Found tools:")
        for number, (name, score) in enumerate(found[:k], start=1):
            spec = _spec(tools, name)
            lines.append(f"\n{number}. {name}")
            lines.append(f"   Category: {tools[name].category}")
            lines.append(f"   Description: {spec.get('description', '')}")
            lines.append(f"   Relevance: {score:.2f}")
            _details(spec, "   ", lines, search=True)
            if spec.get("dependencies"):
                lines.append(f"   Dependencies: {', '.join(spec['dependencies'])}")
    lines.append("\nYou can now use these tools with <tool_call>tool_name</tool_call>")
    return "\n".join(lines)


def tool_details(names: Sequence[str], tools: ToolRegistry) -> str:
    """The reply to a ``<tool_info>`` turn (names are looked up exactly, as WorkflowBench does)."""
    lines = ["Tool Information:"]
    for name in names:
        lines.append(f"\n=== {name} ===")
        if name not in tools:
            lines.append(f"Tool '{name}' not found in registry")
            continue
        spec = _spec(tools, name)
        metadata = spec.get("metadata") or {}
        lines.append(f"Description: {spec.get('description', 'No description')}")
        lines.append(f"Category: {metadata.get('category', 'general')}")
        _details(spec, "", lines, search=False)
        if spec.get("dependencies"):
            lines.append(f"\nDependencies: {', '.join(spec['dependencies'])}")
            lines.append("  Note: These tools should be executed before this one")
        if metadata.get("usage_hint"):
            lines.append(f"\nUsage Hint: {metadata['usage_hint']}")
    lines.append("\nUse <tool_call>tool_name</tool_call> to execute a tool")
    return "\n".join(lines)


def outcome_line(tool: str, success: bool, output: JsonValue, error: str | None) -> str:
    """One tool's outcome as ``_execute_tools_with_feedback`` writes it."""
    if success:
        return f"✅ {tool} executed successfully.\nOutput: {json.dumps(output, indent=2)}"
    return f"❌ {tool} failed.\nError: {error}"


def execution_feedback(lines: Sequence[str], succeeded_calls: int, task_type: str) -> str:
    """The reply to an executing turn: each outcome, progress, and what to do next."""
    text = "\n\n".join(lines) + f"\n\nCurrent progress: {succeeded_calls} tools executed."
    if task_type == "simple_task":
        text += " Continue with your task processing."
    elif task_type == "data_pipeline":
        text += " Continue with the pipeline execution."
    else:
        text += " Continue with the next step."
    return text + (
        "\n- If successful, execute the next tool in your workflow"
        "\n- If failed, consider alternatives or error handling"
        "\n- If task is complete, indicate completion"
        "\n\nRemember: Execute only ONE tool per response."
    )


_INTENT_WORDS: tuple[str, ...] = (
    "will",
    "need to",
    "should",
    "let me",
    "going to",
    "next",
    "now",
    "first",
    "then",
    "start",
)
_TOOL_WORDS: tuple[str, ...] = (
    "tool",
    "execute",
    "call",
    "use",
    "fetch",
    "validate",
    "post",
    "network",
    "data",
    "api",
    "process",
)
_EXACT_FORMAT = (
    "\n\n[IMPORTANT: You must use the EXACT XML-style format shown above with angle brackets]"
)


def no_action_help(reply: str, required_tools: Sequence[str]) -> str:
    """``_generate_no_action_feedback``: quick help chosen by what the reply seems to intend."""
    lowered = reply.lower()
    if any(w in lowered for w in _INTENT_WORDS) and any(w in lowered for w in _TOOL_WORDS):
        text = (
            "❌ NO ACTION DETECTED - Format may be incorrect.\n\n"
            "I see you're trying to use tools, but I cannot detect any valid action format.\n"
            "Please use ONE of these formats:\n\n"
            "To search for tools:\n<tool_search>your search query</tool_search>\n\n"
            "To execute a tool:\n<tool_call>tool_name</tool_call>\n\n"
            "Example: <tool_call>network_fetcher</tool_call>\n"
            "\nIMPORTANT: Use the EXACT format with angle brackets."
        )
    elif len(reply) > 200:
        text = (
            "❌ NO ACTION FOUND - Please take an action.\n\n"
            "Your response contains explanations but no actual tool operations.\n"
            "Stop explaining and START DOING. Use:\n"
            "<tool_call>tool_name</tool_call> to execute a tool\n\n"
        )
        if required_tools:
            text += (
                f"Execute the first required tool NOW:\n<tool_call>{required_tools[0]}</tool_call>"
            )
    else:
        text = (
            "❌ NO VALID ACTION FORMAT DETECTED\n\n"
            "Your response must include one of these action formats:\n"
            "• <tool_search>query</tool_search> - to search for tools\n"
            "• <tool_call>tool_name</tool_call> - to execute a tool\n"
            "• <tool_info>tool_name</tool_info> - to get tool details\n\n"
            "Please try again with the correct format."
        )
    return text + _EXACT_FORMAT


def format_help(reply: str, required_tools: Sequence[str], tool_names: Sequence[str]) -> str:
    """``_generate_format_help_message``: help after a format issue, with example calls."""
    searched, called = "<tool_search>" in reply, "<tool_call>" in reply
    text = "\n=== TOOL CALL FORMAT HELP ===\n"
    if searched and not called:
        example = required_tools[0] if required_tools else "network_fetcher"
        text += (
            "🚫 ACTION NOT FOUND: No tool execution detected in your response.\n\n"
            "You successfully searched for tools using <tool_search>, but you didn't execute "
            "any.\nAfter finding tools, you MUST execute them using:\n"
            "<tool_call>tool_name</tool_call>\n\n"
            f"Please execute the first tool NOW. For example:\n<tool_call>{example}</tool_call>\n"
        )
    elif not searched and not called:
        text += (
            "🚫 NO ACTION DETECTED: Your response contains no valid tool operations.\n\n"
            "You need to either:\n"
            "1. Search for tools: <tool_search>your query</tool_search>\n"
            "2. Execute a tool: <tool_call>tool_name</tool_call>\n\n"
            "Please take an action NOW.\n"
        )
    else:
        text += (
            "⚠️ FORMAT ERROR: Tool call not detected.\n\n"
            "You used <tool_search> correctly, but to EXECUTE tools you must use:\n"
            "<tool_call>tool_name</tool_call>\n\n"
            "IMPORTANT: After searching for tools, you need to EXECUTE them.\n"
            "Example workflow:\n"
            "1. <tool_search>query</tool_search> - Find tools (you did this ✓)\n"
            "2. <tool_call>tool_name</tool_call> - Execute tool (you need to do this)\n\n"
        )
    if required_tools:
        text += f"For this task, you need to use these tools: {', '.join(required_tools)}\n\n"
        examples = required_tools[:3]
    else:
        examples = tool_names[:3]
    text += "EXAMPLES:\n" + "".join(f"<tool_call>{name}</tool_call>\n" for name in examples)
    return text + (
        "\nIMPORTANT: Use the EXACT format with angle brackets and 'tool_call' tags.\n"
        "Please try again with the correct format.\n"
        "=============================\n"
    )


__all__ = [
    "KeywordRanker",
    "ToolRanker",
    "execution_feedback",
    "format_help",
    "no_action_help",
    "outcome_line",
    "search_results",
    "tool_details",
]
