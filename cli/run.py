"""The runner commands: smart-batch, batch, provider-parallel, ultra-parallel (and shard-worker).

Each command turns its bundles into a ``RunRequest`` and hands it to ``run_and_report``, the one
implementation they share: open the store, dry-run or run through ``runners.session``, show
progress, print the summary, say how to resume, exit with the run's code.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from runbench.cli.options import (
    LegacyArgs,
    PinArgs,
    PlanArgs,
    Provider,
    RunArgs,
    StoreArgs,
    bundled,
)
from runbench.cli.output import (
    info,
    line,
    open_store,
    print_json,
    redact_logs,
    resume_line,
    stderr,
    stdout,
    store_location,
)
from runbench.errors import UsageError

DEFAULT_WORKERS = 16
DEFAULT_PROVIDER_WORKERS = 64


def _with_old_flags(
    legacy: LegacyArgs, plan: PlanArgs, run: RunArgs, where: StoreArgs
) -> tuple[PlanArgs, RunArgs]:
    """Apply the old PILOT-Bench flags: one [INFO] line each; ``--progress`` shows status and exits.

    Raises:
        UsageError: an old flag runbench refuses (``--clear``) or one that contradicts its
            runbench equivalent.
    """
    from runbench.cli.legacy_flags import resolve_legacy
    from runbench.cli.results import status
    from runbench.config import load_config

    # a bare --ai-classification turns on the config's classifier model, when it names one
    configured = load_config(plan.config_path()).classifier if legacy.ai_classification else None
    resolved = resolve_legacy(legacy, plan, run, configured_classifier=configured)
    for note in resolved.notes:
        info(note)
    if resolved.show_status:
        status(plan=resolved.plan, where=where, as_json=resolved.run.as_json)
    return resolved.plan, resolved.run


def _request(
    plan: PlanArgs,
    run: RunArgs,
    *,
    mode: Literal["smart", "batch"],
    default_workers: int,
    pin: PinArgs | None = None,
    count: int | None = None,
    models: tuple[str, ...] | None = None,
) -> Any:
    from runbench.config import load_config
    from runbench.runners.session import build_request, run_options

    if run.debug:
        logging.getLogger("runbench").setLevel(logging.DEBUG)
    options = run_options(
        max_workers=run.max_workers or default_workers,
        protocol=run.protocol,
        test_timeout_s=run.timeout,
        request_timeout_s=run.request_timeout,
        max_runtime_s=run.max_runtime,
        max_retries=run.max_retries,
        adaptive=run.adaptive,
        requests_per_second=run.qps,
        save_logs=run.save_logs,
        debug=run.debug,
    )
    inputs = plan.inputs()
    if models is not None:
        import dataclasses

        inputs = dataclasses.replace(inputs, models=",".join(models))
    request, from_config = build_request(
        inputs,
        plan.config_path(),
        mode=mode,
        options=options,
        tasks_path=plan.tasks_file,
        tools_path=plan.tools_file,
        count=count,
        deployment=pin.deployment if pin else None,
        shard=pin.shard if pin else None,
        retry_errors=run.retry_errors,
        classifier=run.classifier,
    )
    redact_logs(load_config(request.config_path))
    if from_config:
        info(f"no --model: running the models of {plan.config_path()}: {', '.join(request.models)}")
    return request


def run_and_report(
    request: Any, where: StoreArgs, run: RunArgs, *, per_provider: bool = False
) -> None:
    """Dry-run or run a request, print what happened, and exit with the run's code."""
    from runbench.cli.progress import ProgressView
    from runbench.cli.tables import provider_table, run_table
    from runbench.runners import session
    from runbench.runners.progress import snapshot_of

    store = open_store(where.storage, where.store)
    if run.dry_run:
        show_dry_run(request, store, run)
        return
    with ProgressView(run.quiet or run.as_json) as view:
        outcome = session.run_request(
            request,
            store,
            preflight_check=run.preflight,
            on_progress=view.of_summary,
            on_note=info,
            command=["runbench", *sys.argv[1:]],
        )
    store.close()
    refresh_summary(store)
    summary = outcome.summary
    if run.as_json:
        print_json(outcome.to_dict())
    elif summary is None:
        line(f"All {outcome.planned} planned tests are done; nothing to run.")
    else:
        table = (
            provider_table(summary, snapshot_of(summary)) if per_provider else run_table(summary)
        )
        stdout.print(table)
    if summary is not None:
        if summary.errors:
            _print_error_reasons(store, summary.run_id)
        for provider, reason in summary.stopped.items():
            stderr.print(
                f"Error: provider '{provider}' stopped: {reason}", highlight=False, markup=False
            )
    finish(outcome.exit_code, where, request.config_path)


def show_dry_run(request: Any, store: Any, run: RunArgs, heading: str = "") -> None:
    """What a run would do: tests, and requests, tokens and cost from stored runs of its cells."""
    from runbench.analysis.cost import estimate_counts, prices_of_config
    from runbench.analysis.terminal import estimate_table
    from runbench.config import load_config
    from runbench.runners import session

    planned = session.dry_run(request, store)
    for note in planned.notes:
        info(note)
    prices = prices_of_config(load_config(request.config_path))
    spend = estimate_counts(store, planned.remaining_per_model, planned.cell_filters, prices)
    if run.as_json:
        print_json({**planned.to_dict(), "estimate": spend.to_dict()})
        return
    line(heading + planned.describe())
    if planned.remaining:
        stdout.print(estimate_table(spend))


def _print_error_reasons(store: Any, run_id: str) -> None:
    """Why tests of this run ended in error: the top reasons per endpoint, one line each."""
    from runbench.analysis.error_groups import error_groups, top_reasons

    stderr.print("Errors of this run (runbench errors --run shows all):", highlight=False)
    for groups in top_reasons(error_groups(store, run_id=run_id)).values():
        for group in groups:
            stderr.print(f"  {group.describe()}", highlight=False, markup=False)


def finish(code: int, where: StoreArgs, config: Path | None) -> None:
    """Say how to resume when there is something to resume, and exit with the run's code."""
    if code in (1, 130):
        location = store_location(where.storage, where.store)
        stderr.print(resume_line(location, config), highlight=False, markup=False)
    raise typer.Exit(code)


def refresh_summary(store: Any) -> None:
    """Bring a JSON store's summary.json up to date after rows were added (once, here)."""
    from runbench.analysis.summary import refresh_summary as refresh

    written = refresh(store)
    if written is not None:
        info(f"updated {written}")


@bundled
def smart_batch(
    plan: PlanArgs, pin: PinArgs, run: RunArgs, where: StoreArgs, old: LegacyArgs
) -> None:
    """Run exactly the tests of the plan not done yet; re-running a finished plan is a no-op.

    The plan is instances 0..N-1 (--num-instances, default 20) of every cell of the models ×
    matrix (or --phase, or --plan FILE). All of it runs in one process sharing each endpoint's
    limits. Exit 0 when the plan is done, 1 when some tests ended in error (run again to resume),
    3 when credentials were rejected or a quota ran out, 130 when interrupted.

    Examples:
      runbench smart-batch --model sim-average --phase 5.1

      STORAGE_FORMAT=parquet runbench smart-batch --model gpt-4o-mini --num-instances 50
    """
    plan, run = _with_old_flags(old, plan, run, where)
    request = _request(plan, run, mode="smart", default_workers=DEFAULT_WORKERS, pin=pin)
    run_and_report(request, where, run)


@bundled
def batch(
    count: Annotated[int, typer.Option("--count", min=1, help="New instances per cell.")] = 1,
    *,
    plan: PlanArgs,
    pin: PinArgs,
    run: RunArgs,
    where: StoreArgs,
    old: LegacyArgs,
) -> None:
    """Add --count new instances to every cell of one model, after the highest instance stored.

    Examples:
      runbench batch --model sim-strong --count 5 --prompt-types all

      STORAGE_FORMAT=json runbench batch --model sim-weak --debug
    """
    plan, run = _with_old_flags(old, plan, run, where)
    request = _request(
        plan, run, mode="batch", default_workers=DEFAULT_WORKERS, pin=pin, count=count
    )
    run_and_report(request, where, run)


@bundled
def provider_parallel(
    provider: Provider = None, *, plan: PlanArgs, run: RunArgs, where: StoreArgs
) -> None:
    """Run several models at once, each provider under its own limits.

    A provider whose key is rejected or whose quota runs out is parked while the others finish;
    the summary is per provider. Resume is exact, as for smart-batch.

    Examples:
      runbench provider-parallel --provider azure --phase 5.1

      runbench provider-parallel --models sim-strong,sim-weak,gpt-4o-mini --prompt-types all
    """
    from runbench.config import load_config

    models = None
    if provider:
        if plan.model:
            raise UsageError("give one of --models and --provider, not both")
        models = load_config(plan.config_path()).models_of_provider(provider)
    elif not plan.model and plan.plan is None:
        raise UsageError(
            "no models to run", hint="pass --models a,b, --provider NAME or --plan FILE"
        )
    request = _request(
        plan, run, mode="smart", default_workers=DEFAULT_PROVIDER_WORKERS, models=models
    )
    run_and_report(request, where, run, per_provider=True)


@bundled
def ultra_parallel(
    num_shards: Annotated[
        int | None,
        typer.Option(
            "--num-shards",
            min=1,
            help="Shard processes. [default: one per deployment, at least 2]",
            show_default=False,
        ),
    ] = None,
    restarts: Annotated[
        int, typer.Option("--restarts", min=0, help="Restarts of a shard that crashes.")
    ] = 1,
    *,
    plan: PlanArgs,
    run: RunArgs,
    where: StoreArgs,
    old: LegacyArgs,
) -> None:
    """Split one model's plan over shard processes (each a smart-batch shard), one store.

    Shards go round-robin over the model's deployments, and shards on one endpoint split its
    budget. Progress comes from the shards over pipes; Ctrl-C and SIGTERM are forwarded; a
    crashed shard is restarted (--restarts); shards stop if this process dies; the exit code is
    the worst shard's.

    Example: runbench ultra-parallel --model DeepSeek-V3-0324 --phase 5.2
    """
    from runbench.runners.ultra import plan_ultra, shard_specs_text

    plan, run = _with_old_flags(old, plan, run, where)
    request = _request(plan, run, mode="smart", default_workers=DEFAULT_WORKERS)
    ultra = plan_ultra(request, num_shards, run.max_workers)
    store = open_store(where.storage, where.store)
    if run.dry_run:
        heading = f"{len(ultra.shards)} shards over {ultra.deployments} deployment(s); "
        show_dry_run(ultra.request, store, run, heading)
        if not run.as_json:
            for text in shard_specs_text(ultra):
                line(text)
        return
    store.close()
    _supervise(ultra, where, run, restarts)


def _supervise(ultra: Any, where: StoreArgs, run: RunArgs, restarts: int) -> None:
    from runbench.cli.progress import ProgressView
    from runbench.runners.ultra import ShardSupervisor, install_forwarding

    location = store_location(where.storage, where.store)
    supervisor = ShardSupervisor(
        ultra,
        location.remote.url if location.remote is not None else location.root,
        location.format,
        restarts=restarts,
        preflight=run.preflight,
        on_event=lambda text: stderr.print(f"[ultra] {text}", highlight=False, markup=False),
    )
    install_forwarding(supervisor)
    with ProgressView(run.quiet or run.as_json) as view:
        result = supervisor.run(view.show)
    summary = result.to_dict()
    if run.as_json:
        print_json(summary)
    else:
        line(
            f"{ultra.model}: {summary['finished']} tests finished ({summary['full_success']} "
            f"full), {summary['errors']} errors, {summary['not_run']} not run over "
            f"{len(ultra.shards)} shards; shard exit codes {result.exit_codes}; "
            f"restarts {sum(result.restarts.values())}"
        )
    finish(result.exit_code, where, ultra.request.config_path)


def shard_worker(
    request_file: Annotated[Path, typer.Argument(help="The shard file ultra-parallel wrote.")],
) -> None:
    """Run one ultra-parallel shard (started by ultra-parallel; not for direct use).

    Example: runbench shard-worker /tmp/runbench-ultra-x/shard-0.json
    """
    from runbench.runners.ultra import run_shard

    raise typer.Exit(run_shard(request_file, sys.stdout, sys.stdin.buffer))
