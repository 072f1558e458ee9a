"""The runner commands: smart-batch, batch, provider-parallel, ultra-parallel (and shard-worker).

Each command reads the configuration once (``_config``), turns its bundles into a
``RunRequest`` and hands both to ``run_and_report``, the one implementation they share: open the
store, build the run's one context, dry-run or run through ``runners.session``, show progress,
print the summary, say how to resume, exit with the run's code.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

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
    error_lines,
    info,
    line,
    open_store,
    print_json,
    redact_logs,
    resume_line,
    stderr_line,
    stdout,
    store_location,
)
from runbench.errors import StoreError, UsageError

if TYPE_CHECKING:
    from runbench.config import RunbenchConfig
    from runbench.runners.context import RunContext
    from runbench.runners.session import RunOutcome, RunRequest
    from runbench.runners.ultra import UltraPlan
    from runbench.storage import Store

DEFAULT_WORKERS = 16
DEFAULT_PROVIDER_WORKERS = 64


def _config(plan: PlanArgs) -> RunbenchConfig:
    """The command's configuration, read and checked once; log lines redact its keys from here on.

    Raises:
        ConfigError: the file is missing or a key holds a value of the wrong type or range.
    """
    config = plan.configuration()
    redact_logs(config)
    return config


def _with_old_flags(
    legacy: LegacyArgs, plan: PlanArgs, run: RunArgs, where: StoreArgs, config: RunbenchConfig
) -> tuple[PlanArgs, RunArgs]:
    """Apply the old PILOT-Bench flags: one [INFO] line each; ``--progress`` shows status and exits.

    Raises:
        UsageError: an old flag runbench refuses (``--clear``) or one that contradicts its
            runbench equivalent.
    """
    from runbench.cli.legacy_flags import resolve_legacy
    from runbench.cli.results import show_status

    # a bare --ai-classification turns on the config's classifier model, when it names one
    configured = config.classifier if legacy.ai_classification else None
    resolved = resolve_legacy(legacy, plan, run, configured_classifier=configured)
    for note in resolved.notes:
        info(note)
    if resolved.show_status:
        show_status(resolved.plan, where, config, as_json=resolved.run.as_json)
    return resolved.plan, resolved.run


def _request(
    plan: PlanArgs,
    run: RunArgs,
    config: RunbenchConfig,
    *,
    mode: Literal["smart", "batch"],
    default_workers: int,
    pin: PinArgs | None = None,
    count: int | None = None,
    models: tuple[str, ...] | None = None,
) -> RunRequest:
    from runbench.runners.session import build_request, run_options

    if run.debug:
        logging.getLogger("runbench").setLevel(logging.DEBUG)
    options = run_options(
        max_workers=run.max_workers or default_workers,
        protocol=run.protocol,
        test_timeout_s=run.timeout,
        request_timeout_s=run.request_timeout,
        max_runtime_s=run.max_runtime,
        lease_s=run.claim_lease,
        max_retries=run.max_retries,
        adaptive=run.adaptive is not False,  # adaptive unless --no-adaptive
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
        config,
        mode=mode,
        options=options,
        tasks_path=plan.tasks_file,
        tools_path=plan.tools_file,
        tool_index_path=run.tool_index,
        count=count,
        deployment=pin.deployment if pin else None,
        shard=pin.shard if pin else None,
        retry_errors=run.retry_errors,
        classifier=run.classifier,
    )
    if from_config:
        info(f"no --model: running the models of {plan.config_path()}: {', '.join(request.models)}")
    return request


def _context(
    request: RunRequest, config: RunbenchConfig, where: StoreArgs, *, create: bool = True
) -> RunContext:
    """The run's one context: this configuration, the request's workload, the opened store.

    ``create=False`` (a dry run) creates nothing at the store's path; the store opens after the
    inputs load, so a bad ``--tasks``, ``--tools`` or ``--tool-index`` creates nothing either.
    """
    from runbench.config import require_keys
    from runbench.runners.context import build_context

    if create and request.cluster is None:  # a Ray cluster's nodes bring their own keys
        require_keys(config, request.models)
    return build_context(
        config,
        lambda: open_store(where.storage, where.store, create=create),
        tasks_path=request.tasks_path,
        tools_path=request.tools_path,
        tool_index_path=request.tool_index_path,
    )


def run_and_report(
    request: RunRequest,
    config: RunbenchConfig,
    where: StoreArgs,
    run: RunArgs,
    *,
    started: float,
    per_provider: bool = False,
) -> None:
    """Dry-run or run a request, print what happened, and exit with the run's code.

    ``started`` is the command's start (``time.monotonic``): ``--max-runtime`` counts from it,
    so reading the configuration, the task library and the store is part of the run's time.
    """
    from runbench.cli.progress import ProgressView
    from runbench.runners import session

    context = _context(request, config, where, create=not run.dry_run)
    if run.dry_run:
        show_dry_run(request, context, run)
        return
    with ProgressView(run.quiet or run.as_json) as view:
        outcome = session.run_request(
            request,
            context,
            preflight_check=run.preflight,
            on_progress=view.of_summary,
            on_note=info,
            command=["runbench", *sys.argv[1:]],
            started=started,
        )
    _close(context.store, outcome)
    _report(outcome, context.store, run, per_provider=per_provider)
    finish(
        outcome.exit_code,
        where,
        request.config_path,
        resumable=outcome.failure is not None,
        batch_instances=outcome.instances_planned if request.mode == "batch" else None,
    )


def _close(store: Store, outcome: RunOutcome) -> None:
    """Close the store and refresh its summary; after a failed run, its error is the report.

    Raises:
        StoreError: the store could not seal or summarise a run that did not fail.
    """
    try:
        store.close()
        refresh_summary(store)
    except (StoreError, OSError) as error:
        if outcome.failure is not None:
            return  # a full disk that ended the run refuses the summary too: one line says it
        if isinstance(error, OSError):
            from runbench.storage.durable import store_error

            raise store_error(error, "write the summary of", store.path) from None
        raise


def _report(outcome: RunOutcome, store: Store, run: RunArgs, *, per_provider: bool) -> None:
    """The summary (JSON or a table), the run's top error reasons and why it ended early."""
    from runbench.cli.tables import provider_table, run_table
    from runbench.runners.progress import snapshot_of

    summary = outcome.summary
    if run.as_json:
        print_json(outcome.to_dict())
    elif summary is None:  # one line, the answer a script or log waits for, even with --quiet
        line(f"All {outcome.planned} planned tests are done; nothing to run.")
    elif run.quiet:
        pass  # --quiet: no table; the error reasons and the resume line still go to stderr
    else:
        table = (
            provider_table(summary, snapshot_of(summary)) if per_provider else run_table(summary)
        )
        stdout.print(table)
    if summary is not None:
        if summary.errors:
            _print_error_reasons(store, summary.run_id)
        for provider, reason in summary.stopped.items():
            stderr_line(f"Error: provider '{provider}' stopped: {reason}")
    if outcome.failure is not None:
        error_lines(outcome.failure.message, outcome.failure.hint)
        if outcome.stored is not None:
            info(f"{outcome.stored} results of this run are stored and kept")
        if outcome.manifest_error is not None:
            info(f"the run could not be marked ended: {outcome.manifest_error}")


def show_dry_run(request: RunRequest, context: RunContext, run: RunArgs, heading: str = "") -> None:
    """What a run would do: tests, and requests, tokens and cost from stored runs of its cells."""
    from runbench.analysis.cost import estimate_counts, prices_of_config
    from runbench.cli.listings import estimate_table
    from runbench.runners import session

    planned = session.dry_run(request, context)
    for note in planned.notes:
        info(note)
    prices = prices_of_config(context.config)
    store = context.store
    spend = estimate_counts(store, planned.remaining_per_model, planned.cell_filters, prices)
    if run.as_json:
        print_json({**planned.to_dict(), "estimate": spend.to_dict()})
        return
    line(heading + planned.describe())
    if planned.remaining:
        stdout.print(estimate_table(spend))


def _print_error_reasons(store: Store, run_id: str) -> None:
    """Why tests of this run ended in error: the top reasons per endpoint, one line each."""
    from runbench.analysis.error_groups import error_groups, top_reasons

    stderr_line("Errors of this run (runbench errors --run shows all):")
    for groups in top_reasons(error_groups(store, run_id=run_id)).values():
        for group in groups:
            stderr_line(f"  {group.describe()}")


def finish(
    code: int,
    where: StoreArgs,
    config: Path | None,
    *,
    resumable: bool = False,
    batch_instances: int | None = None,
) -> None:
    """Say how to resume when there is something to resume, and exit with the run's code.

    ``resumable`` marks a run that ended on an error (a full disk): once it is fixed, the same
    command goes on where the run stopped. ``batch_instances``: a batch's resume is the
    smart-batch that finishes exactly the instances it planned.
    """
    if resumable or code in (1, 130):
        location = store_location(where.storage, where.store)
        stderr_line(resume_line(location, config, batch_instances=batch_instances))
    raise typer.Exit(code)


def refresh_summary(store: Store) -> None:
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
    started = time.monotonic()  # --max-runtime counts from here
    config = _config(plan)
    plan, run = _with_old_flags(old, plan, run, where, config)
    request = _request(plan, run, config, mode="smart", default_workers=DEFAULT_WORKERS, pin=pin)
    run_and_report(request, config, where, run, started=started)


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
    started = time.monotonic()  # --max-runtime counts from here
    config = _config(plan)
    plan, run = _with_old_flags(old, plan, run, where, config)
    request = _request(
        plan, run, config, mode="batch", default_workers=DEFAULT_WORKERS, pin=pin, count=count
    )
    run_and_report(request, config, where, run, started=started)


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
    started = time.monotonic()  # --max-runtime counts from here
    config = _config(plan)
    models = None
    if provider:
        if plan.model:
            raise UsageError("give one of --models and --provider, not both")
        models = config.models_of_provider(provider)
    elif not plan.model and plan.plan is None:
        raise UsageError(
            "no models to run", hint="pass --models a,b, --provider NAME or --plan FILE"
        )
    request = _request(
        plan, run, config, mode="smart", default_workers=DEFAULT_PROVIDER_WORKERS, models=models
    )
    run_and_report(request, config, where, run, started=started, per_provider=True)


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
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run the shards as actors on a Ray cluster: host:port, auto, or local (a "
            "cluster on this machine). Needs pip install 'runbench[ray]'.",
            show_default=False,
        ),
    ] = None,
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

    With --ray the shards are Ray actors spread over the cluster's nodes; this process alone
    claims and writes, a lost actor's unfinished tests go to the others (--num-shards: actors,
    default one per node, at least 2).

    Example: runbench ultra-parallel --model DeepSeek-V3-0324 --phase 5.2

    Example: runbench ultra-parallel --model qwen2.5-72b-instruct --ray 10.0.0.5:6379
    """
    started = time.monotonic()  # --max-runtime counts from here
    from runbench.runners.ultra import on_cluster, plan_ultra, shard_specs_text

    config = _config(plan)
    plan, run = _with_old_flags(old, plan, run, where, config)
    request = _request(plan, run, config, mode="smart", default_workers=DEFAULT_WORKERS)
    if ray is not None:
        cluster_request = on_cluster(request, config, ray, num_shards)
        run_and_report(cluster_request, config, where, run, started=started, per_provider=True)
        return
    ultra = plan_ultra(request, config, num_shards, run.max_workers)
    context = _context(ultra.request, config, where, create=not run.dry_run)
    if run.dry_run:
        heading = f"{len(ultra.shards)} shards over {ultra.deployments} deployment(s); "
        show_dry_run(ultra.request, context, run, heading)
        if not run.as_json:
            for text in shard_specs_text(ultra):
                line(text)
        return
    context.store.close()
    _supervise(ultra, where, run, restarts)


def _supervise(ultra: UltraPlan, where: StoreArgs, run: RunArgs, restarts: int) -> None:
    from runbench.cli.progress import ProgressView
    from runbench.runners.ultra import ShardSupervisor, install_forwarding

    location = store_location(where.storage, where.store)
    supervisor = ShardSupervisor(
        ultra,
        location.remote.url if location.remote is not None else location.root,
        location.format,
        restarts=restarts,
        preflight=run.preflight,
        on_event=lambda text: stderr_line(f"[ultra] {text}"),
    )
    install_forwarding(supervisor)
    with ProgressView(run.quiet or run.as_json) as view:
        result = supervisor.run(view.show)
    summary = result.to_dict()
    if run.as_json:
        print_json(summary)
    elif not run.quiet:
        line(
            f"{ultra.model}: {summary['finished']} tests finished ({summary['full_success']} "
            f"full), {summary['errors']} errors, {summary['not_run']} not run over "
            f"{len(ultra.shards)} shards; shard exit codes {result.exit_codes}; "
            f"restarts {sum(result.restarts.values())}"
        )
    # one line per distinct error, naming its shards (three shards of one full disk: one line)
    shards_of: dict[tuple[str, str | None], list[int]] = {}
    for index, final in sorted(result.finals.items()):
        if final.get("error"):
            shards_of.setdefault((final["error"], final.get("hint")), []).append(index)
    for (message, hint), indexes in shards_of.items():
        named = ", ".join(str(index) for index in indexes)
        error_lines(f"shard{'s' if len(indexes) > 1 else ''} {named}: {message}", hint)
    for provider, reason in summary["stopped"].items():  # as smart-batch says it
        stderr_line(f"Error: provider '{provider}' stopped: {reason}")
    failed = bool(shards_of)
    finish(result.exit_code, where, ultra.request.config_path, resumable=failed)


def shard_worker(
    request_file: Annotated[Path, typer.Argument(help="The shard file ultra-parallel wrote.")],
) -> None:
    """Run one ultra-parallel shard (started by ultra-parallel; not for direct use).

    Example: runbench shard-worker /tmp/runbench-ultra-x/shard-0.json
    """
    from runbench.runners.ultra import run_shard

    raise typer.Exit(run_shard(request_file, sys.stdout, sys.stdin.buffer))
