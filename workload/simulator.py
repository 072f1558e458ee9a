"""The tool simulator: WorkflowBench's tool success model, drawn deterministically.

A call of tool ``t`` succeeds with probability (WorkflowBench ``interactive_executor.py``,
``InteractiveExecutor._calculate_success_rate``)

    p = rate × 0.5^unmet × 0.7^failed × 0.9^recent, clamped to [0.1, 0.95]

where ``rate`` is the test's tool success rate; ``unmet`` counts the dependencies of ``t`` that
have not succeeded in this test; ``failed`` counts those that succeeded once but whose latest
call failed; ``recent`` counts failed calls among the last three, and applies only once three
calls have been made. The clamp means even a perfect rate fails one call in twenty: an agent
must retry, and the executor lets it (docs/SCORING.md).

Dependencies are read the way the registry says (``ToolRegistry.dependency_rule``, data carried
by the one registry object a run and its tests share). A WorkflowBench ``tool_registry.json``
lists every tool a tool needs (rule ``all``: each one is a dependency). The built-in registry
lists alternatives (rule ``any``: "needs one of these"), so there the whole list is one
dependency, unmet while none has succeeded and failed when every succeeded alternative's latest
call failed.

The WorkflowBench suite (a loaded registry file) calls ``call_workflowbench``: WorkflowBench's
outcomes exactly, parameters never read. The built-in suite calls ``call``, with two runbench
additions, each a model error WorkflowBench cannot see because its calls carry no
parameters and unknown names are dropped by its parser: a call missing a required parameter fails
with ``INVALID_INPUT``, and a call of an unknown tool fails with ``TOOL_NOT_FOUND``; neither
draws. The draw for call ``k`` comes from a generator seeded by (test_id, k), so the same
conversation gets the same tool outcomes on every machine.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runbench.workload.tools import DependencyRule, Tool, ToolRegistry, builtin_registry

UNMET_DEPENDENCY_FACTOR = 0.5
FAILED_DEPENDENCY_FACTOR = 0.7
RECENT_FAILURE_FACTOR = 0.9
RECENT_WINDOW = 3
PROBABILITY_FLOOR = 0.1
PROBABILITY_CEILING = 0.95


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one simulated call, as the executor and scorer see it."""

    tool: str
    success: bool
    output: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    dependency_met: bool = True

    def render(self) -> str:
        """The line the model reads; sims parse the ``[tool] OK`` / ``[tool] ERROR`` prefix."""
        if self.success:
            return f"[{self.tool}] OK: {self.output}"
        return f"[{self.tool}] ERROR {self.error_code}: {self.error_message}"


@dataclass(slots=True)
class ToolSimulator:
    """Tool outcomes for one test; remembers every call, for dependencies and recent failures."""

    test_id: str
    tool_success_rate: float
    tools: ToolRegistry = field(default_factory=builtin_registry)
    calls: list[ToolResult] = field(default_factory=list)

    @property
    def dependency_rule(self) -> DependencyRule:
        """The registry's own rule (data on the registry, never inferred from which one it is)."""
        return self.tools.dependency_rule

    def _dependency_groups(self, tool: Tool) -> list[tuple[str, ...]]:
        if not tool.dependencies:
            return []
        if self.dependency_rule == "any":
            return [tool.dependencies]
        return [(dependency,) for dependency in tool.dependencies]

    def _latest_failed(self, name: str) -> bool:
        for result in reversed(self.calls):
            if result.tool == name:
                return not result.success
        return False

    def dependency_counts(self, tool: Tool) -> tuple[int, int]:
        """(unmet, failed) dependency groups of ``tool`` at this point of the test."""
        succeeded = {result.tool for result in self.calls if result.success}
        unmet = failed = 0
        for group in self._dependency_groups(tool):
            met = [name for name in group if name in succeeded]
            if not met:
                unmet += 1
            elif all(self._latest_failed(name) for name in met):
                failed += 1
        return unmet, failed

    def success_probability(self, tool: Tool) -> float:
        """WorkflowBench's probability that the next call of ``tool`` succeeds."""
        unmet, failed = self.dependency_counts(tool)
        probability = self.tool_success_rate
        probability *= UNMET_DEPENDENCY_FACTOR**unmet * FAILED_DEPENDENCY_FACTOR**failed
        if len(self.calls) >= RECENT_WINDOW:
            recent = sum(not result.success for result in self.calls[-RECENT_WINDOW:])
            probability *= RECENT_FAILURE_FACTOR**recent
        return max(PROBABILITY_FLOOR, min(PROBABILITY_CEILING, probability))

    def dependency_met(self, tool: Tool) -> bool:
        """Whether every dependency group of ``tool`` has succeeded at least once."""
        return self.dependency_counts(tool)[0] == 0

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> ToolResult:
        """Simulate one call of tool ``name``; unknown tools fail without a draw."""
        tool = self.tools.get(name)
        if tool is None:
            return self._record(
                ToolResult(
                    name,
                    False,
                    error_code="TOOL_NOT_FOUND",
                    error_message=f"no tool named '{name}'; search with <tool_search>",
                )
            )
        rng = random.Random(
            int(hashlib.sha256(f"{self.test_id}:{len(self.calls)}".encode()).hexdigest()[:16], 16)
        )
        met = self.dependency_met(tool)
        missing = [
            p.name
            for p in tool.parameters
            if p.required and arguments is not None and p.name not in arguments
        ]
        if missing:
            return self._record(
                ToolResult(
                    name,
                    False,
                    error_code="INVALID_INPUT",
                    error_message=f"required parameter '{missing[0]}' is missing",
                    dependency_met=met,
                )
            )
        if rng.random() < self.success_probability(tool):
            return self._record(ToolResult(name, True, _output(tool, rng), dependency_met=met))
        # INVALID_INPUT is kept for calls that really lack a parameter (a model error)
        codes = [code for code in tool.errors if code != "INVALID_INPUT"] or ["OPERATION_FAILED"]
        reason = "its input was not produced by an earlier step" if not met else "it failed"
        return self._record(
            ToolResult(
                name,
                False,
                error_code=rng.choice(codes),
                error_message=f"{tool.name}: {reason}",
                dependency_met=met,
            )
        )

    def call_workflowbench(self, name: str) -> ToolResult:
        """One call as WorkflowBench's ``_execute_single_tool`` makes it (name already resolved).

        No parameters are read or required. The draw is the same probability; a failure's code
        and text are drawn as ``_generate_error_message`` draws them: one of the tool's own
        errors (``INVALID_INPUT`` included), with its description and, for six codes, a context
        phrase; a tool without errors draws from WorkflowBench's five default ones. A success's
        output is its generic simulator's, without the wall-clock timestamp (so a test's
        transcript is the same on every machine).
        """
        tool = self.tools[name]
        rng = random.Random(
            int(hashlib.sha256(f"{self.test_id}:{len(self.calls)}".encode()).hexdigest()[:16], 16)
        )
        met = self.dependency_met(tool)
        if rng.random() < self.success_probability(tool):
            output = {
                "status": "completed",
                "tool": name,
                "execution_context": {
                    "step": len(self.calls),
                    "total_tools_executed": sum(result.success for result in self.calls),
                },
            }
            return self._record(ToolResult(name, True, output, dependency_met=met))
        code, message = _workflowbench_error(name, self.tools.specs.get(name, {}), rng)
        return self._record(ToolResult(name, False, None, code, message, dependency_met=met))

    def _record(self, result: ToolResult) -> ToolResult:
        self.calls.append(result)
        return result


def _output(tool: Tool, rng: random.Random) -> dict[str, Any]:
    """A plausible, small output for a successful call."""
    return {
        "status": "ok",
        "result": tool.returns,
        "items": rng.randint(1, 500),
        "elapsed_ms": rng.randint(5, 900),
    }


_DEFAULT_ERRORS = (
    ("OPERATION_FAILED", "Operation could not be completed"),
    ("INVALID_INPUT", "Input validation failed"),
    ("TIMEOUT", "Operation timed out"),
    ("DEPENDENCY_ERROR", "Required dependencies are not available"),
    ("RESOURCE_ERROR", "Resource temporarily unavailable"),
)


def _error_context(code: str, tool: str, rng: random.Random) -> str:
    """The phrase ``_generate_error_message`` appends to six codes (drawn only for them)."""
    if code == "TIMEOUT":
        return f" (after {rng.randint(10, 60)} seconds)"
    if code == "NETWORK_ERROR":
        return f" (connection to {rng.choice(['server', 'endpoint', 'service'])} failed)"
    if code == "FILE_NOT_FOUND":
        return f" (path: /data/{tool}_{rng.randint(100, 999)}.dat)"
    if code == "PERMISSION_DENIED":
        return f" (required permission: {rng.choice(['read', 'write', 'execute'])})"
    if code == "INVALID_INPUT":
        return f" (expected: {rng.choice(['JSON', 'XML', 'CSV'])} format)"
    if code == "DEPENDENCY_ERROR":
        return f" (missing: {rng.choice(['data source', 'configuration', 'previous step'])})"
    return ""


def _workflowbench_error(tool: str, spec: Mapping[str, Any], rng: random.Random) -> tuple[str, str]:
    """(code, message) of a failed call, drawn as WorkflowBench draws them."""
    errors = spec.get("errors") or []
    if not errors:
        code, description = rng.choice(_DEFAULT_ERRORS)
        return code, f"{code}: {description} for tool '{tool}'"
    chosen = rng.choice(errors)
    if isinstance(chosen, dict):
        code = str(chosen.get("code", "UNKNOWN_ERROR"))
        description = str(chosen.get("description", "An error occurred"))
    else:
        code, description = "UNKNOWN_ERROR", str(chosen)
    return code, f"{code}: {description}{_error_context(code, tool, rng)}"
