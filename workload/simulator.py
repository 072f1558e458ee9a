"""The tool simulator: tools that fail at a configured rate, deterministically.

A call's success probability is

    p = rate ** (1 + 0.5 · recent_failures) × (0.3 if a dependency is unmet else 1)

where ``rate`` is the test's tool success rate, ``recent_failures`` counts failed calls among
the last three, and a dependency is met when a tool of the called tool's dependency list has
already succeeded in this test. Recent failures compound (flaky systems stay flaky) but never
lower a perfect rate: with rate 1.0 and every dependency met, a call always succeeds. Calls with
a required parameter missing fail with ``INVALID_INPUT`` whatever the rate.

The draw for call ``k`` of a test comes from a generator seeded by (test_id, k), so the same
conversation gets the same tool outcomes on every machine.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from runbench.workload.tools import Tool, registry

UNMET_DEPENDENCY_FACTOR = 0.3
RECENT_WINDOW = 3


@dataclass(frozen=True, slots=True)
class ToolResult:
    tool: str
    success: bool
    output: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    dependency_met: bool = True

    def render(self) -> str:
        if self.success:
            return f"[{self.tool}] OK: {self.output}"
        return f"[{self.tool}] ERROR {self.error_code}: {self.error_message}"


@dataclass(slots=True)
class ToolSimulator:
    """Tool outcomes for one test; remembers which tools succeeded, for dependencies."""

    test_id: str
    tool_success_rate: float
    calls: list[ToolResult] = field(default_factory=list)

    def success_probability(self, tool: Tool) -> float:
        recent = sum(not result.success for result in self.calls[-RECENT_WINDOW:])
        probability = self.tool_success_rate ** (1 + 0.5 * recent)
        return probability * (1.0 if self.dependency_met(tool) else UNMET_DEPENDENCY_FACTOR)

    def dependency_met(self, tool: Tool) -> bool:
        succeeded = {result.tool for result in self.calls if result.success}
        return not tool.dependencies or any(dep in succeeded for dep in tool.dependencies)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> ToolResult:
        """Simulate one call of tool ``name``; unknown tools fail without a draw."""
        tool = registry().get(name)
        if tool is None:
            result = ToolResult(
                name,
                False,
                error_code="TOOL_NOT_FOUND",
                error_message=f"no tool named '{name}'; search with <tool_search>",
            )
            self.calls.append(result)
            return result
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
            result = ToolResult(
                name,
                False,
                error_code="INVALID_INPUT",
                error_message=f"required parameter '{missing[0]}' is missing",
                dependency_met=met,
            )
        elif rng.random() < self.success_probability(tool):
            result = ToolResult(name, True, output=_output(tool, rng), dependency_met=met)
        else:
            # INVALID_INPUT is kept for calls that really lack a parameter (a model error)
            codes = [code for code in tool.errors if code != "INVALID_INPUT"]
            code = rng.choice(codes)
            reason = (
                "its input was not produced by an earlier step"
                if not met
                else "the operation failed"
            )
            result = ToolResult(
                name,
                False,
                error_code=code,
                error_message=f"{tool.name}: {reason}",
                dependency_met=met,
            )
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
