"""The suite version of a run: the one function that names which tasks and tools a test ran.

The suite version is part of every test id (DESIGN.md §4), so it decides which results may be
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

from runbench.workload.tasks import SUITE_VERSION, TaskLibrary
from runbench.workload.tools import ToolRegistry

# the base under which JSON-lines libraries were named ``custom-…`` before registries existed
_LEGACY_CUSTOM_BASE = "1"


def suite_version(library: TaskLibrary, tools: ToolRegistry, *, base: str = SUITE_VERSION) -> str:
    """The suite version of runs of ``library`` with ``tools`` under the rules ``base``."""
    if library.is_builtin and tools.is_builtin:
        return base
    if base == _LEGACY_CUSTOM_BASE and tools.is_builtin and library.rule == "task_difficulty":
        return f"custom-{library.digest()[:12]}"
    return f"{base}+lib-{library.digest()[:8]}+reg-{tools.digest()[:8]}"
