"""The suite version of a run: the one function that names which tasks and tools a test ran.

The suite version is part of every test id (plan.py), so it decides which results may be
counted together. It is:

- ``<base>`` (``1``) for the built-in library with the built-in tools: the ids of every store
  written so far;
- ``custom-<12 hex>`` for a JSON-lines library with the built-in tools under base ``1``: the
  ids such runs got before tool registries could be loaded, kept so their stores stay valid;
- ``<base>+lib-<8 hex>+reg-<8 hex>`` otherwise: the first digits of the task library's and the
  tool registry's content digests (``TaskLibrary.digest``, ``ToolRegistry.digest``). Two
  WorkflowBench libraries, or one library with two registries, never share an id, and
  ``report --by suite_version`` shows which library a row came from. ``runbench tasks`` and
  ``runbench tools`` print the full digests to match against.

``base`` is the workflow suite's version of its rules (scoring, flaws, simulator); a new set of
rules gets a new base, so old rows keep theirs and never mix with new ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runbench.errors import UsageError
from runbench.records import WORKFLOW_RULES_VERSION
from runbench.workload.tasks import (
    MissingCell,
    TaskLibrary,
    builtin_library,
    load_tasks,
)
from runbench.workload.tools import ToolRegistry, builtin_registry

# the base under which JSON-lines libraries were named ``custom-…`` before registries existed
_LEGACY_CUSTOM_BASE = "1"


def suite_version(
    library: TaskLibrary, tools: ToolRegistry, *, base: str = WORKFLOW_RULES_VERSION
) -> str:
    """The suite version of runs of ``library`` with ``tools`` under the rules ``base``."""
    if library.is_builtin and tools.is_builtin:
        return base
    if base == _LEGACY_CUSTOM_BASE and tools.is_builtin and library.rule == "task_difficulty":
        return f"custom-{library.digest()[:12]}"
    return f"{base}+lib-{library.digest()[:8]}+reg-{tools.digest()[:8]}"


@dataclass(frozen=True, slots=True)
class Workload:
    """The tasks and tools of one run, loaded together so they are checked against each other."""

    library: TaskLibrary
    tools: ToolRegistry

    def suite_version(self, *, base: str = WORKFLOW_RULES_VERSION) -> str:
        return suite_version(self.library, self.tools, base=base)

    def missing_cells(
        self, task_types: Iterable[str], difficulties: Iterable[str]
    ) -> tuple[MissingCell, ...]:
        return self.library.missing_cells(task_types, difficulties)

    def to_dict(self) -> dict[str, object]:
        """Both sources and digests and the suite version, for ``--json`` outputs and logs."""
        tools = self.tools.to_dict()
        return {
            "suite_version": self.suite_version(),
            "tasks": self.library.summary().to_dict(),
            "tools": {key: tools[key] for key in ("source", "digest", "tools", "categories")},
        }


def load_workload(tasks: str | Path | None = None, tools: Path | None = None) -> Workload:
    """Load ``--tasks`` (file or ``{difficulty}`` pattern) and ``--tools`` (or the built-ins).

    Raises:
        UsageError: a file is invalid (see ``load_tasks`` and ``load_tool_registry``), or a
            registry is given without tasks: the built-in tasks name the built-in tools only.
    """
    if tools is None:
        registry = builtin_registry()
    else:
        from runbench.workload.wb_registry import load_tool_registry

        registry = load_tool_registry(tools)
    if tasks is None:
        if not registry.is_builtin:
            raise UsageError(
                f"--tools {tools} needs a task library made with it: the built-in tasks use "
                "the built-in tools",
                hint="add --tasks FILE (e.g. a WorkflowBench task_library_enhanced_v3.json)",
            )
        return Workload(builtin_library(), registry)
    return Workload(load_tasks(Path(tasks), registry), registry)
