"""Looking into a store: runs, errors, one test, and the live viewer in the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from runbench.cli.options import Config, Json, Models, StoreArgs, bundled
from runbench.cli.output import info, open_store, print_json, stdout

RunFilter = Annotated[
    str | None,
    typer.Option("--run", help="Only this run (id or unique prefix).", show_default=False),
]


@bundled
def runs(where: StoreArgs, as_json: Json = False) -> None:
    """List the runs that wrote to the store, newest first: command, version, counts, exit code.

    Every run writes a manifest (run id, command line, runbench version, git revision, config
    and plan digests, host, times, counts, exit code); a record's run_id leads to it.

    Example: runbench runs --json | jq '.[0].command'
    """
    from runbench.analysis.runs import list_runs
    from runbench.cli.listings import runs_table

    found = list_runs(open_store(where.storage, where.store, must_exist=True))
    if as_json:
        print_json([run.to_dict() for run in found])
    else:
        stdout.print(runs_table(found))


@bundled
def errors(
    run: RunFilter = None,
    model: Models = None,
    config: Config = None,
    as_json: Json = False,
    *,
    where: StoreArgs,
) -> None:
    """Group the error rows by endpoint, category and message: count, first and last seen, ids.

    Errors are infrastructure failures (API down after retries, timeouts, refused requests):
    they are never counted as model results, and a resume runs those tests again.

    Examples:
      runbench errors --run 3f2a8c

      runbench errors --model gpt-4o-mini --json
    """
    from runbench.analysis.error_groups import error_groups
    from runbench.analysis.runs import find_run
    from runbench.cli.listings import error_groups_table
    from runbench.config import load_config, resolve_config_path
    from runbench.matrix import parse_models

    store = open_store(where.storage, where.store, must_exist=True)
    run_id = find_run(store, run).run_id if run else None
    config_of = load_config(resolve_config_path(config))
    names = [config_of.canonical_name(name) for name in parse_models(model)] if model else None
    groups = error_groups(store, run_id=run_id, model=names)
    if as_json:
        print_json([group.to_dict() for group in groups])
    else:
        stdout.print(error_groups_table(groups))


@bundled
def show(
    test_id: Annotated[str, typer.Argument(help="A test id, or a unique prefix of one.")],
    as_json: Json = False,
    *,
    where: StoreArgs,
) -> None:
    """Show one test: its attempts, scores with their components, and its transcript if saved.

    Example: runbench show 3f2a8c
    """
    from runbench.analysis.show import show_test
    from runbench.cli.show_view import render_test_view

    view = show_test(open_store(where.storage, where.store, must_exist=True), test_id)
    if as_json:
        print_json(view.to_dict())
    else:
        stdout.print(render_test_view(view))


@bundled
def view(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")
    ] = 8765,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.2, help="Seconds between page refreshes.")
    ] = 2.0,
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in the browser.")] = False,
    config: Config = None,
    *,
    where: StoreArgs,
) -> None:
    """Serve a live page over the store on 127.0.0.1: runs, results, errors, transcripts, plots.

    Filters by model, prompt type, difficulty, task type, rate and suite; the page refreshes
    while a run writes. Nothing is served beyond this machine. Ctrl-C stops it.

    Example: runbench view --port 8765 --open
    """
    import asyncio

    from runbench.analysis.cost import prices_of_config
    from runbench.config import load_config, resolve_config_path
    from runbench.viewer import serve

    store = open_store(where.storage, where.store, must_exist=True)
    prices = prices_of_config(load_config(resolve_config_path(config)))
    ready = lambda url: info(f"viewer at {url}; Ctrl-C stops it")  # noqa: E731
    asyncio.run(
        serve(
            store,
            port=port,
            open_browser=open_browser,
            refresh_s=refresh,
            prices=prices,
            on_ready=ready,
        )
    )
