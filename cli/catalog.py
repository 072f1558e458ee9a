"""What is available: models (from runbench.toml), tools and tasks (from the workload)."""

from __future__ import annotations

from typing import Annotated

import typer

from runbench.cli.options import Config, Difficulty, Json, TasksFile, TaskTypes, ToolsFile
from runbench.cli.output import print_json, stdout


def models(config: Config = None, as_json: Json = False) -> None:
    """List providers, models, deployments and their limits; for keys, only whether they are set.

    Shows each key's environment variable and whether it is set — never its value.

    Examples:
      runbench models

      runbench models --config runbench.example.toml --json
    """
    from runbench.config import load_config, resolve_config_path

    loaded = load_config(resolve_config_path(config))
    rows = loaded.deployment_rows()
    if as_json:
        print_json({"config": str(loaded.source) if loaded.source else None, "deployments": rows})
        return
    from runbench.cli.tables import models_table

    stdout.print(models_table(rows, loaded.source))


def tools(tools_file: ToolsFile = None, config: Config = None, as_json: Json = False) -> None:
    """List the tools a run uses: the built-in 30, or a WorkflowBench registry (--tools FILE).

    Shows each tool's category, parameters (? = optional), dependencies and error codes, with the
    registry's source and digest. A dependency list means the tool needs the output of at least
    one of those tools earlier in the workflow.

    Examples:
      runbench tools --json | jq '.registry[].name'

      runbench tools --tools mcp_generated_library/tool_registry.json
    """
    from runbench.config import load_config, resolve_config_path
    from runbench.workload.tools import builtin_registry
    from runbench.workload.wb_registry import load_tool_registry

    path = tools_file or load_config(resolve_config_path(config)).tools
    registry = load_tool_registry(path) if path else builtin_registry()
    if as_json:
        print_json(registry.to_dict())
        return
    from runbench.cli.tables import tools_table

    stdout.print(tools_table(registry))


def tasks(
    task_types: TaskTypes = None,
    difficulty: Difficulty = None,
    tasks_file: TasksFile = None,
    tools_file: ToolsFile = None,
    config: Config = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many tasks.")] = 20,
    as_json: Json = False,
) -> None:
    """Show a task library: what was loaded (sources, digest, tasks per cell) and its tasks.

    The built-in library, or --tasks FILE (JSON lines, a WorkflowBench library, or a
    {difficulty} pattern) validated against its tools. Instance i of a cell runs task i mod n of
    its type and difficulty.

    Examples:
      runbench tasks --task-types api_integration --difficulty hard

      runbench tasks --tasks task_library_enhanced_v3.json --tools tool_registry.json --limit 5
    """
    from runbench.config import load_config, resolve_config_path
    from runbench.matrix import parse_difficulties, parse_task_types
    from runbench.workload.suite import load_workload

    configured = load_config(resolve_config_path(config)).tools
    workload = load_workload(tasks_file, tools_file or configured)
    library = workload.library
    chosen = library.filter(
        task_types=parse_task_types(task_types) if task_types else None,
        difficulties=parse_difficulties(difficulty) if difficulty else None,
    ).tasks
    if as_json:
        print_json(
            {
                **library.summary().to_dict(),
                "suite_version": workload.suite_version(),
                "count": len(chosen),
                "tasks": [task.to_dict() for task in chosen[:limit]],
            }
        )
        return
    from runbench.cli.tables import library_table, tasks_table

    stdout.print(library_table(library.summary(), workload.suite_version()))
    stdout.print(tasks_table(list(chosen[:limit]), total=len(chosen)))
