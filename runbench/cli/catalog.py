"""What is available: models (from runbench.toml), tools and tasks (from the workload)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from runbench.cli.options import Config, Difficulty, Json, TasksFile, TaskTypes
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


def tools(as_json: Json = False) -> None:
    """List the 30 simulated tools: category, parameters, dependencies and error codes.

    A dependency list means the tool needs the output of at least one of those tools earlier in
    the workflow; a call with no dependency met is much likelier to fail.

    Example: runbench tools --json | jq '.[].name'
    """
    from runbench.workload.tools import registry

    if as_json:
        print_json([asdict(tool) for tool in registry().values()])
        return
    from runbench.cli.tables import tools_table

    stdout.print(tools_table(list(registry().values())))


def tasks(
    task_types: TaskTypes = None,
    difficulty: Difficulty = None,
    tasks_file: TasksFile = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many tasks.")] = 20,
    as_json: Json = False,
) -> None:
    """Show the task library (the built-in one, or --tasks FILE validated line by line).

    Each task has an id, a type, a difficulty, a description and the ordered tools its correct
    workflow needs. Instance i of a cell runs task i mod n of its type and difficulty.

    Examples:
      runbench tasks --task-types api_integration --difficulty hard

      runbench tasks --tasks my_tasks.jsonl --limit 5
    """
    from runbench.matrix import parse_difficulties, parse_task_types
    from runbench.workload.tasks import builtin_library, load_tasks

    library = load_tasks(tasks_file) if tasks_file else builtin_library()
    chosen = library.filter(
        task_types=parse_task_types(task_types) if task_types else None,
        difficulties=parse_difficulties(difficulty) if difficulty else None,
    )
    if as_json:
        print_json(
            {
                "digest": library.digest(),
                "count": len(chosen),
                "tasks": [asdict(t) for t in chosen[:limit]],
            }
        )
        return
    from runbench.cli.tables import tasks_table

    stdout.print(tasks_table(chosen[:limit], total=len(chosen), digest=library.digest()))
