"""The ``runbench`` command line: parse, call one library function, render what it returns.

This is the only module that imports Typer and the only place that exits. Every error a user
can cause reaches ``main`` as a ``RunbenchError`` (or Click's usage error) and is printed as one
``Error:`` line, at most one ``Hint:`` line, and the error's exit code — never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from runbench.config import resolve_store_location
from runbench.errors import EXIT_INTERRUPTED, EXIT_USAGE, RunbenchError, UsageError

app = typer.Typer(
    name="runbench",
    help=(
        "Run agentic tool-use benchmarks against LLM APIs and keep every result safely.\n\n"
        "Examples:\n\n"
        "  runbench verify --storage parquet\n\n"
        "  runbench migrate                     # JSON store -> Parquet store\n\n"
        "  STORAGE_FORMAT=parquet runbench report --by model,prompt_type"
    ),
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"
    legacy_json = "legacy-json"


# -- shared options, declared once ---------------------------------------------------------

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Store format: json or parquet. [default: $STORAGE_FORMAT, else json]",
        show_default=False,
    ),
]
StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="Store root folder. [default: $RUNBENCH_STORE, else ./runbench_results]",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")
]

ModelsOption = Annotated[str, typer.Option("--model", help="Model name, or a comma list of them.")]
ModelsFilterOption = Annotated[
    str | None, typer.Option("--model", help="Only these models (comma list).", show_default=False)
]
PromptTypesOption = Annotated[
    str | None,
    typer.Option(
        "--prompt-types",
        help="Comma list; all = baseline,optimal,cot; flawed = the seven flawed; "
        "all_with_flawed = all ten.",
        show_default=False,
    ),
]
DifficultyOption = Annotated[
    str | None,
    typer.Option(
        "--difficulty", help="Comma list of very_easy..very_hard, or all.", show_default=False
    ),
]
TaskTypesOption = Annotated[
    str | None,
    typer.Option("--task-types", help="Comma list of task types, or all.", show_default=False),
]
RateOption = Annotated[
    str | None,
    typer.Option("--tool-success-rate", help="Comma list of rates in [0, 1].", show_default=False),
]
PhaseOption = Annotated[
    str | None,
    typer.Option(
        "--phase",
        help="A systematic-test phase (5.1 ... 5.5); flags override its axes.",
        show_default=False,
    ),
]
SuiteOption = Annotated[
    str | None,
    typer.Option(
        "--suite", help="Only this suite; 'all' includes legacy-v3 imports.", show_default=False
    ),
]
NumInstancesOption = Annotated[
    int | None,
    typer.Option(
        "--num-instances",
        help="Instances per cell. [default: the phase's, else 20]",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.", show_default=False
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="runbench.toml to use. "
        "[default: $RUNBENCH_CONFIG, else ./runbench.toml, else the built-in sim models]",
        show_default=False,
    ),
]
MaxWorkersOption = Annotated[int, typer.Option("--max-workers", min=1, help="Tests run at once.")]
QpsOption = Annotated[
    float | None,
    typer.Option(
        "--qps", min=0.01, help="Cap requests per second per endpoint.", show_default=False
    ),
]
AdaptiveOption = Annotated[
    bool,
    typer.Option(
        "--adaptive/--no-adaptive", help="Halve concurrency on 429, grow it back on success."
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.01, help="Wall-clock limit per test, seconds.")
]
RequestTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--request-timeout",
        min=0.01,
        help="Limit per API request, seconds. [default: the provider's]",
        show_default=False,
    ),
]
MaxRetriesOption = Annotated[
    int, typer.Option("--max-retries", min=0, help="Retries of a failing request.")
]
MaxRuntimeOption = Annotated[
    float | None,
    typer.Option(
        "--max-runtime",
        min=0.01,
        help="Stop the whole run after this many seconds.",
        show_default=False,
    ),
]
ProtocolOption = Annotated[
    str, typer.Option("--protocol", help="tags or native (OpenAI function calling).")
]
SaveLogsOption = Annotated[
    bool, typer.Option("--save-logs", help="Keep every transcript under the store.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress lines.")]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard", help="Run only shard i of N of the plan, e.g. 0/4.", show_default=False
    ),
]
DeploymentOption = Annotated[
    str | None,
    typer.Option("--deployment", help="Pin one deployment of the model.", show_default=False),
]
PlanOption = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        "--test-config",
        help="A JSON plan file (models and matrix) instead of the flags.",
        show_default=False,
    ),
]
TasksOption = Annotated[
    Path | None,
    typer.Option(
        "--tasks",
        help="A task library in JSON lines instead of the built-in one.",
        show_default=False,
    ),
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="One test at a time, verbose log, transcripts kept.")
]
RunModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="Model name, alias or deployment (comma list).", show_default=False
    ),
]
PreflightOption = Annotated[
    bool,
    typer.Option(
        "--preflight/--no-preflight", help="Check each API key with one tiny request first."
    ),
]


def _open(storage: str | None, store: Path | None, *, must_exist: bool = False) -> Any:
    from runbench.storage import open_store

    location = resolve_store_location(storage, store)
    path = location.root / location.format
    if must_exist and not path.is_dir():
        if location.root.exists() and not location.root.is_dir():
            open_store(location.root, location.format)  # raises the "path is a file" error
        raise UsageError(
            f"no {location.format} store at {path.resolve()}",
            hint="check --store / RUNBENCH_STORE and --storage / STORAGE_FORMAT",
        )
    opened = open_store(location.root, location.format)
    stderr.print(
        f"[INFO] storage: {location.format} ({path.resolve()})", highlight=False, markup=False
    )
    return opened


def _print_json(payload: Any) -> None:
    stdout.out(json.dumps(payload, indent=2, default=str), highlight=False)


# -- commands ------------------------------------------------------------------------------


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        stdout.out(f"runbench {version('runbench')}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    context: typer.Context,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Print help when no command is given."""
    if context.invoked_subcommand is None:
        stdout.out(context.get_help())
        raise typer.Exit(0)


@app.command()
def verify(
    storage: StorageOption = None, store: StoreOption = None, as_json: JsonOption = False
) -> None:
    """Read every stored piece and name each damaged one; exit 1 if any, 0 if clean.

    Damage is a torn or corrupt line, an unreadable Parquet part, a part whose schema differs, or
    an orphaned write-ahead segment of a writer that died (run `runbench compact` to seal it).

    Example: runbench verify --storage parquet --store results/
    """
    report = _open(storage, store, must_exist=True).verify()
    if as_json:
        _print_json({**asdict(report), "clean": report.is_clean})
    else:
        for item in report.damage:
            stdout.print(f"DAMAGED {item.describe()}", highlight=False)
        for note in report.notes:
            stdout.print(f"note: {note}", highlight=False)
        state = "clean" if report.is_clean else f"{len(report.damage)} damaged piece(s)"
        stdout.print(f"{report.rows} rows in {report.files} file(s): {state}", highlight=False)
    raise typer.Exit(0 if report.is_clean else 1)


@app.command()
def compact(
    storage: StorageOption = None, store: StoreOption = None, as_json: JsonOption = False
) -> None:
    """Merge small Parquet parts and seal segments left by dead writers.

    Safe while other processes append, and safe to kill at any moment. On the JSON store it moves
    damaged lines, byte for byte, to quarantine.jsonl.

    Example: runbench compact --storage parquet
    """
    report = _open(storage, store, must_exist=True).compact()
    if as_json:
        _print_json(asdict(report))
        return
    if report.format == "parquet":
        stdout.print(
            f"parts {report.parts_before} -> {report.parts_after}; sealed {report.segments_sealed} "
            f"orphaned segment(s); removed {report.superseded_removed} superseded and "
            f"{report.temporary_removed} temporary file(s); {report.quarantined} quarantined",
            highlight=False,
        )
    else:
        stdout.print(
            f"{report.rows} rows; moved {report.quarantined} damaged line(s) to quarantine"
        )


@app.command()
def migrate(
    from_format: Annotated[str, typer.Option("--from", help="Source store format.")] = "json",
    to_format: Annotated[str, typer.Option("--to", help="Destination store format.")] = "parquet",
    store: StoreOption = None,
    to_store: Annotated[
        Path | None,
        typer.Option("--to-store", help="Destination root if not the source's. [default: --store]"),
    ] = None,
    legacy: Annotated[
        Path | None,
        typer.Option(
            "--legacy",
            help="Import a PILOT-Bench V3 master_database.json into the store chosen by "
            "--storage/STORAGE_FORMAT instead.",
        ),
    ] = None,
    storage: StorageOption = None,
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Copy records between the JSON and Parquet stores, or import a legacy database.

    Streams, never duplicates (a row already in the destination is skipped), leaves the source
    untouched and verifies every copied row's content afterwards. Re-running adds nothing.

    Examples:
      runbench migrate                              # json -> parquet in ./runbench_results

      runbench migrate --from parquet --to json --store results/

      runbench migrate --legacy master_database.json --storage parquet
    """
    if legacy is not None:
        _import_legacy(legacy, storage, store, dry_run=dry_run, as_json=as_json)
        return
    from runbench.config import parse_storage_format
    from runbench.migrate import migrate_store

    source_format = parse_storage_format(from_format, source="--from")
    destination_format = parse_storage_format(to_format, source="--to")
    source = _open(source_format, store, must_exist=True)
    destination = _open(destination_format, to_store or store)
    if source.path.resolve() == destination.path.resolve():
        raise UsageError(
            "source and destination are the same store", hint="change --to or --to-store"
        )
    report = migrate_store(source, destination, dry_run=dry_run)
    destination.close()
    if not dry_run:
        _refresh_summary(destination)
    if as_json:
        _print_json(asdict(report))
        return
    verb = "would copy" if dry_run else "copied"
    stdout.print(
        f"{report.source_format} -> {report.destination_format}: {report.source_rows} source rows, "
        f"{report.already_present} already present, {report.duplicates_in_source} duplicate(s) "
        f"in source, {verb} {report.to_copy if dry_run else report.copied}",
        highlight=False,
    )
    if not dry_run:
        rate = report.source_rows / report.seconds if report.seconds else 0.0
        stdout.print(
            f"verified {report.verified_rows} rows (count and content checksum) in "
            f"{report.seconds:.1f} s ({rate:,.0f} rows/s)",
            highlight=False,
        )


def _refresh_summary(store: Any) -> None:
    from runbench.analysis.summary import refresh_summary

    written = refresh_summary(store)
    if written is not None:
        stderr.print(f"[INFO] updated {written}", highlight=False, markup=False)


def _import_legacy(
    path: Path, storage: str | None, store: Path | None, *, dry_run: bool, as_json: bool
) -> None:
    from runbench.migrate import import_legacy, read_legacy

    read_legacy(path)  # refuse a bad file before a store is created
    target = _open(storage, store)
    report = import_legacy(path, target, dry_run=dry_run)
    target.close()
    if not dry_run:
        _refresh_summary(target)
    if as_json:
        _print_json(asdict(report))
        return
    from runbench.console import legacy_table

    stdout.print(legacy_table(report))
    for skipped in report.skipped:
        stdout.print(f"skipped {skipped.path}: {skipped.reason}", highlight=False)


@app.command()
def report(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Comma list of: model, prompt_type, difficulty, task_type, tool_success_rate, "
            "provider, deployment, suite, suite_version.",
        ),
    ] = "model,prompt_type",
    model: ModelsFilterOption = None,
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    suite: SuiteOption = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.table,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write a PNG heatmap and bar chart here.")
    ] = None,
    output: OutputOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
) -> None:
    """Results per group: each test counted once (its latest non-error attempt).

    Rates have 95 % Wilson intervals; infrastructure errors and superseded attempts are shown
    apart and never counted in a rate. Legacy imports appear only with --suite legacy-v3 or all.

    Examples:
      STORAGE_FORMAT=parquet runbench report --by model,difficulty

      runbench report --phase 5.3 --format markdown

      runbench report --format html --output report.html --plot rates.png
    """
    from runbench.analysis import report as reporting

    filters = _filters(model, prompt_types, difficulty, task_types, tool_success_rate, phase)
    opened = _open(storage, store, must_exist=True)
    if output_format is ReportFormat.legacy_json:
        from runbench.analysis.summary import SUMMARY_COLUMNS, build_summary

        frame = reporting.load_frame(opened, filters, suite, SUMMARY_COLUMNS)
        _emit(json.dumps(build_summary(frame), indent=2) + "\n", output)
        return
    group_by = reporting.parse_group_by(by)
    columns = reporting.report_columns(dict.fromkeys([*group_by, "model", "prompt_type"]))
    frame = reporting.load_frame(opened, filters, suite, columns)
    result = reporting.report_from_frame(frame, group_by)
    png = _plot(frame, plot, output_format is ReportFormat.html)
    _emit_report(result, output_format, output, png)


@app.command()
def status(
    model: ModelsOption,
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    num_instances: NumInstancesOption = None,
    tasks_file: TasksOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """How far a plan has got: per cell, tests done of the target; exit 0 when complete, 1 if not.

    The plan is a phase (--phase) or the matrix flags (defaults: optimal, easy, all task types,
    rate 0.8, 20 instances). A test is done when a non-error row exists for its test id.

    Examples:
      runbench status --model gpt-4o-mini --phase 5.1

      runbench status --model a,b --prompt-types all --difficulty easy,medium --num-instances 50
    """
    from runbench.analysis.status import plan_progress
    from runbench.matrix import build_matrix, parse_models

    matrix = build_matrix(
        phase_name=phase,
        prompt_types=prompt_types,
        difficulties=difficulty,
        task_types=task_types,
        rates=tool_success_rate,
        num_instances=num_instances,
    )
    if tasks_file is not None:  # runs with a library of one's own record its suite version
        import dataclasses

        from runbench.workload.tasks import custom_suite_version, load_tasks

        matrix = dataclasses.replace(
            matrix, suite_version=custom_suite_version(load_tasks(tasks_file))
        )
    progress = plan_progress(_open(storage, store), parse_models(model), matrix)
    if as_json:
        _print_json(_progress_json(progress))
    else:
        from runbench.console import status_table

        stdout.print(status_table(progress))
    raise typer.Exit(0 if progress.is_complete else 1)


@app.command()
def compare(
    model_a: Annotated[str, typer.Argument(help="Model A (canonical name, as stored).")],
    model_b: Annotated[str, typer.Argument(help="Model B.")],
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    suite: SuiteOption = None,
    storage: StorageOption = None,
    config: ConfigOption = None,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two models on identical tests: exact McNemar p and the rate difference with its CI.

    Tests pair when suite, suite version, prompt type, difficulty, task type, tool success rate
    and instance are equal; tests without a partner are counted and left out.

    Example: runbench compare gpt-4o-mini qwen2.5-72b-instruct --phase 5.1
    """
    from runbench.analysis.compare import compare_models

    filters = _filters(None, prompt_types, difficulty, task_types, tool_success_rate, phase)
    opened = _open(storage, store, must_exist=True)
    first, second = (_canonical(name, config) for name in (model_a, model_b))
    comparison = compare_models(opened, first, second, filters=filters, suite=suite)
    if as_json:
        _print_json(_comparison_json(comparison))
    else:
        from runbench.console import compare_table

        stdout.print(compare_table(comparison))


@app.command("smart-batch")
def smart_batch(
    model: RunModelOption = None,
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    plan: PlanOption = None,
    num_instances: NumInstancesOption = None,
    deployment: DeploymentOption = None,
    max_workers: MaxWorkersOption = 16,
    qps: QpsOption = None,
    adaptive: AdaptiveOption = True,
    timeout: TimeoutOption = 600.0,
    request_timeout: RequestTimeoutOption = None,
    max_retries: MaxRetriesOption = 5,
    max_runtime: MaxRuntimeOption = None,
    protocol: ProtocolOption = "tags",
    save_logs: SaveLogsOption = False,
    tasks_file: TasksOption = None,
    shard: ShardOption = None,
    debug: DebugOption = False,
    dry_run: DryRunOption = False,
    preflight: PreflightOption = True,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
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
    from runbench.runners.session import RunRequest

    models, matrix = _plan_inputs(
        model,
        plan,
        phase,
        prompt_types,
        difficulty,
        task_types,
        tool_success_rate,
        num_instances,
        config,
    )
    options = _run_options(
        max_workers,
        protocol,
        timeout,
        request_timeout,
        max_runtime,
        max_retries,
        adaptive,
        qps,
        save_logs,
        debug,
    )
    request = RunRequest(
        models,
        matrix,
        "smart",
        deployment=deployment,
        shard=_shard(shard),
        options=options,
        config_path=_config_path(config),
        tasks_path=tasks_file,
    )
    _run(
        request,
        storage,
        store,
        dry_run=dry_run,
        quiet=quiet,
        as_json=as_json,
        preflight=preflight,
    )


@app.command()
def batch(
    model: RunModelOption = None,
    count: Annotated[int, typer.Option("--count", min=1, help="New instances per cell.")] = 1,
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    plan: PlanOption = None,
    deployment: DeploymentOption = None,
    max_workers: MaxWorkersOption = 16,
    qps: QpsOption = None,
    adaptive: AdaptiveOption = True,
    timeout: TimeoutOption = 600.0,
    request_timeout: RequestTimeoutOption = None,
    max_retries: MaxRetriesOption = 5,
    max_runtime: MaxRuntimeOption = None,
    protocol: ProtocolOption = "tags",
    save_logs: SaveLogsOption = False,
    tasks_file: TasksOption = None,
    shard: ShardOption = None,
    debug: DebugOption = False,
    dry_run: DryRunOption = False,
    preflight: PreflightOption = True,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
) -> None:
    """Add --count new instances to every cell of one model, after the highest instance stored.

    Examples:
      runbench batch --model sim-strong --count 5 --prompt-types all

      STORAGE_FORMAT=json runbench batch --model sim-weak --debug
    """
    from runbench.runners.session import RunRequest

    models, matrix = _plan_inputs(
        model, plan, phase, prompt_types, difficulty, task_types, tool_success_rate, None, config
    )
    options = _run_options(
        max_workers,
        protocol,
        timeout,
        request_timeout,
        max_runtime,
        max_retries,
        adaptive,
        qps,
        save_logs,
        debug,
    )
    request = RunRequest(
        models,
        matrix,
        "batch",
        count=count,
        deployment=deployment,
        shard=_shard(shard),
        options=options,
        config_path=_config_path(config),
        tasks_path=tasks_file,
    )
    _run(
        request,
        storage,
        store,
        dry_run=dry_run,
        quiet=quiet,
        as_json=as_json,
        preflight=preflight,
    )


@app.command("provider-parallel")
def provider_parallel(
    models_option: Annotated[
        str | None,
        typer.Option(
            "--models", help="Comma list of models, over any providers.", show_default=False
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Every model of this provider.", show_default=False),
    ] = None,
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    num_instances: NumInstancesOption = None,
    max_workers: MaxWorkersOption = 64,
    qps: QpsOption = None,
    adaptive: AdaptiveOption = True,
    timeout: TimeoutOption = 600.0,
    request_timeout: RequestTimeoutOption = None,
    max_retries: MaxRetriesOption = 5,
    max_runtime: MaxRuntimeOption = None,
    protocol: ProtocolOption = "tags",
    plan: PlanOption = None,
    shard: ShardOption = None,
    debug: DebugOption = False,
    save_logs: SaveLogsOption = False,
    tasks_file: TasksOption = None,
    dry_run: DryRunOption = False,
    preflight: PreflightOption = True,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
) -> None:
    """Run several models at once, each provider under its own limits.

    Models of one provider share that provider's limits.

    A provider whose key is rejected or whose quota runs out is parked while the others finish;
    the summary is per provider. Resume is exact, as for smart-batch.

    Examples:
      runbench provider-parallel --provider azure --phase 5.1

      runbench provider-parallel --models sim-strong,sim-weak,gpt-4o-mini --prompt-types all
    """
    from runbench.config import load_config
    from runbench.matrix import parse_models
    from runbench.runners.session import RunRequest, models_of_provider

    if bool(models_option) and bool(provider):
        raise UsageError("give one of --models and --provider, not both")
    config_path = _config_path(config)
    chosen = parse_models(models_option) if models_option else None
    if provider:
        chosen = list(models_of_provider(load_config(config_path), provider))
    if plan is None and chosen is None:
        raise UsageError(
            "no models to run", hint="pass --models a,b, --provider NAME or --plan FILE"
        )
    names, matrix = _plan_inputs(
        ",".join(chosen) if chosen else None,
        plan,
        phase,
        prompt_types,
        difficulty,
        task_types,
        tool_success_rate,
        num_instances,
        config,
    )
    options = _run_options(
        max_workers,
        protocol,
        timeout,
        request_timeout,
        max_runtime,
        max_retries,
        adaptive,
        qps,
        save_logs,
        debug,
    )
    request = RunRequest(
        names,
        matrix,
        "smart",
        shard=_shard(shard),
        options=options,
        config_path=config_path,
        tasks_path=tasks_file,
    )
    _run(
        request,
        storage,
        store,
        dry_run=dry_run,
        quiet=quiet,
        as_json=as_json,
        preflight=preflight,
        per_provider=True,
    )


@app.command("ultra-parallel")
def ultra_parallel(
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="The one model to run, split over shard processes.", show_default=False
        ),
    ] = None,
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
    prompt_types: PromptTypesOption = None,
    difficulty: DifficultyOption = None,
    task_types: TaskTypesOption = None,
    tool_success_rate: RateOption = None,
    phase: PhaseOption = None,
    plan: PlanOption = None,
    num_instances: NumInstancesOption = None,
    max_workers: Annotated[
        int | None,
        typer.Option(
            "--max-workers",
            min=1,
            help="Per endpoint, split over its shards. [default: its limit]",
            show_default=False,
        ),
    ] = None,
    timeout: TimeoutOption = 600.0,
    request_timeout: RequestTimeoutOption = None,
    max_retries: MaxRetriesOption = 5,
    protocol: ProtocolOption = "tags",
    qps: QpsOption = None,
    adaptive: AdaptiveOption = True,
    max_runtime: MaxRuntimeOption = None,
    tasks_file: TasksOption = None,
    dry_run: DryRunOption = False,
    preflight: PreflightOption = True,
    save_logs: SaveLogsOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    storage: StorageOption = None,
    store: StoreOption = None,
) -> None:
    """Split one model's plan over shard processes (smart-batch --shard i/N each), one store.

    Shards go round-robin over the model's deployments, and shards on one endpoint split its
    budget. Ctrl-C and SIGTERM are forwarded; a crashed shard is restarted (--restarts); the exit
    code is the worst shard's. Records carry the model's canonical name, whatever deployment ran
    them.

    Example: runbench ultra-parallel --model DeepSeek-V3-0324 --phase 5.2
    """
    from runbench.analysis.status import plan_progress
    from runbench.config import load_config
    from runbench.matrix import build_matrix
    from runbench.runners.ultra import ShardSupervisor, install_forwarding, plan_shards

    config_path = _config_path(config)
    plan_models: tuple[str, ...] = ()
    if plan is not None:
        from runbench.runners.session import load_plan_file

        plan_models, matrix = load_plan_file(plan)
    else:
        matrix = build_matrix(
            phase_name=phase,
            prompt_types=prompt_types,
            difficulties=difficulty,
            task_types=task_types,
            rates=tool_success_rate,
            num_instances=num_instances,
        )
    if model is None and len(plan_models) != 1:
        raise UsageError(
            "ultra-parallel runs one model",
            hint="pass --model NAME (or a plan file with one model)",
        )
    resolved = load_config(config_path).resolve_model(model or plan_models[0])
    location = resolve_store_location(storage, store)
    opened = _open(storage, store)
    passed = {
        "--plan": str(plan) if plan else None,
        "--phase": None if plan else phase,
        "--prompt-types": prompt_types,
        "--difficulty": difficulty,
        "--task-types": task_types,
        "--tool-success-rate": tool_success_rate,
        "--num-instances": None if plan else str(matrix.num_instances),
        "--timeout": str(timeout),
        "--request-timeout": None if request_timeout is None else str(request_timeout),
        "--max-retries": str(max_retries),
        "--protocol": protocol,
        "--config": str(config_path) if config_path else None,
        "--max-runtime": None if max_runtime is None else str(max_runtime),
        "--tasks": str(tasks_file) if tasks_file else None,
        "--store": str(location.root),
        "--storage": location.format,
    }
    switches = [
        *(["--save-logs"] if save_logs else []),
        *([] if adaptive else ["--no-adaptive"]),
        *([] if preflight else ["--no-preflight"]),
    ]
    base = ["smart-batch", "--model", resolved.name, "--quiet", *switches]
    base += [item for flag, value in passed.items() if value is not None for item in (flag, value)]
    shards = plan_shards(resolved, num_shards, max_workers, qps)
    if dry_run:
        estimate = _whole_plan_dry_run(base)
        stdout.print(
            f"{len(shards)} shards over {len(resolved.deployments)} deployment(s); {estimate}",
            highlight=False,
        )
        return
    supervisor = ShardSupervisor(
        base,
        shards,
        restarts=restarts,
        on_event=lambda text: stderr.print(f"[ultra] {text}", highlight=False, markup=False),
    )
    install_forwarding(supervisor)
    ticks = [0]

    def show_progress() -> None:
        ticks[0] += 1
        if quiet or ticks[0] % 25:
            return
        progress = plan_progress(opened, [resolved.name], matrix)
        stderr.print(
            f"[progress] {progress.done}/{progress.target} done ({progress.percent:.1f} %)",
            highlight=False,
        )

    result = supervisor.run(show_progress)
    progress = plan_progress(opened, [resolved.name], matrix)
    summary = {
        "model": resolved.name,
        "shards": len(shards),
        "done": progress.done,
        "target": progress.target,
        "shard_exit_codes": result.exit_codes,
        "restarts": result.restarts,
        "exit_code": result.exit_code,
    }
    if as_json:
        _print_json(summary)
    else:
        stdout.print(
            f"{resolved.name}: {progress.done}/{progress.target} tests done over {len(shards)} "
            f"shards; shard exit codes {result.exit_codes}; "
            f"restarts {sum(result.restarts.values())}",
            highlight=False,
        )
    if result.exit_code in (1, 130):
        import shlex

        stderr.print(
            f"Resume with: {shlex.join(['runbench', *sys.argv[1:]])}", highlight=False, markup=False
        )
    raise typer.Exit(result.exit_code)


def _whole_plan_dry_run(base: list[str]) -> str:
    """The whole plan's dry run, as one smart-batch prints it."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "runbench", *base, "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise UsageError(lines[-2] if len(lines) > 1 else "the dry run failed")
    return result.stdout.strip()


def _plan_inputs(
    model: str | None,
    plan: Path | None,
    phase: str | None,
    prompt_types: str | None,
    difficulty: str | None,
    task_types: str | None,
    rates: str | None,
    num_instances: int | None,
    config: Path | None = None,
) -> tuple[tuple[str, ...], Any]:
    from runbench.matrix import build_matrix, parse_models

    if plan is not None:
        from runbench.runners.session import load_plan_file

        models, matrix = load_plan_file(plan)
        if model:
            models = tuple(parse_models(model))
    else:
        models = tuple(parse_models(model)) if model else ()
        matrix = build_matrix(
            phase_name=phase,
            prompt_types=prompt_types,
            difficulties=difficulty,
            task_types=task_types,
            rates=rates,
            num_instances=num_instances,
        )
    if not models:
        models = _models_of_config_file(config)
    return models, matrix


def _models_of_config_file(config: Path | None) -> tuple[str, ...]:
    """Without --model: the models the runbench.toml in use defines (seed: ``batch --debug``)."""
    from runbench.config import builtin_config, load_config

    path = _config_path(config)
    if path is None:
        raise UsageError("no model to run", hint="pass --model NAME (runbench models lists them)")
    builtin = builtin_config().models
    models = tuple(name for name in load_config(path).models if name not in builtin)
    if not models:
        raise UsageError(f"no model to run: {path} defines none", hint="pass --model NAME")
    stderr.print(
        f"[INFO] no --model: running the models of {path}: {', '.join(models)}",
        highlight=False,
        markup=False,
    )
    return models


def _run_options(
    max_workers: int,
    protocol: str,
    timeout: float,
    request_timeout: float | None,
    max_runtime: float | None,
    max_retries: int,
    adaptive: bool,
    qps: float | None,
    save_logs: bool,
    debug: bool,
) -> Any:
    from runbench.runners.engine import RunOptions
    from runbench.runners.retry import RetryPolicy

    if protocol not in ("tags", "native"):
        raise UsageError(f"--protocol must be tags or native, not '{protocol}'")
    if debug:
        logging.getLogger("runbench").setLevel(logging.DEBUG)
    return RunOptions(
        max_workers=1 if debug else max_workers,
        protocol=protocol,
        test_timeout_s=timeout,
        request_timeout_s=request_timeout,
        max_runtime_s=max_runtime,
        retry=RetryPolicy(max_retries=max_retries),
        adaptive=adaptive,
        requests_per_second=qps,
        save_logs=save_logs or debug,
    )


def _shard(text: str | None) -> Any:
    from runbench.runners.planning import parse_shard

    return parse_shard(text) if text else None


def _config_path(config: Path | None) -> Path | None:
    from runbench.config import resolve_config_path

    return resolve_config_path(config)


def _run(
    request: Any,
    storage: str | None,
    store: Path | None,
    *,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
    preflight: bool = True,
    per_provider: bool = False,
) -> None:
    import asyncio
    import shlex
    import signal

    from runbench.runners import session

    opened = _open(storage, store)
    prepared = session.prepare(request, opened)
    if dry_run:
        estimate = session.dry_run(prepared, request.options)
        if as_json:
            _print_json(asdict(estimate))
        else:
            stdout.print(
                f"{estimate.cells} cells, {estimate.planned} tests planned, {estimate.done} done, "
                f"{estimate.remaining} to run: about {estimate.estimated_requests} requests, "
                f"{estimate.estimated_seconds:,.0f} s",
                highlight=False,
            )
        return
    if not prepared.jobs:
        _finish_nothing(prepared.planned, as_json)
        return

    async def main(progress: _Progress) -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await session.execute(
            prepared,
            opened,
            request.options,
            stop=stop,
            on_progress=progress,
            check_credentials=preflight,
        )

    with _Progress(quiet) as progress:
        summary = asyncio.run(main(progress))
    opened.close()
    if as_json:
        _print_json(_summary_json(summary))
    else:
        from runbench.console import provider_table, run_table

        stdout.print(provider_table(summary) if per_provider else run_table(summary))
    for provider, reason in summary.stopped.items():
        stderr.print(
            f"Error: provider '{provider}' stopped: {reason}", highlight=False, markup=False
        )
    if summary.exit_code in (1, 130):
        stderr.print(
            f"Resume with: {shlex.join(['runbench', *sys.argv[1:]])}", highlight=False, markup=False
        )
    raise typer.Exit(summary.exit_code)


def _finish_nothing(planned: int, as_json: bool) -> None:
    if as_json:
        _print_json({"planned": planned, "ran": 0, "exit_code": 0, "message": "plan already done"})
    else:
        stdout.print(f"All {planned} planned tests are done; nothing to run.", highlight=False)


class _Progress:
    """A live rich table on a terminal; otherwise (or with --quiet) a plain line every 5 s."""

    def __init__(self, quiet: bool) -> None:
        from rich.live import Live

        self.live: Live | None = None
        if not quiet and stderr.is_terminal:
            self.live = Live(console=stderr, refresh_per_second=4, transient=True)
        self.last = 0.0

    def __enter__(self) -> _Progress:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.stop()

    def __call__(self, summary: Any) -> None:
        import time

        from runbench.console import progress_line, progress_table

        if self.live is not None:
            self.live.update(progress_table(summary))
            return
        now = time.monotonic()
        if now - self.last >= 5.0 and summary.finished + summary.errors:
            self.last = now
            stderr.print(progress_line(summary), highlight=False, markup=False)


def _summary_json(summary: Any) -> dict[str, Any]:
    return {
        "run_id": summary.run_id,
        "planned": summary.planned,
        "finished": summary.finished,
        "full_success": summary.full,
        "partial_success": summary.partial,
        "failure": summary.failure,
        "errors": summary.errors,
        "not_run": summary.not_run,
        "stopped": summary.stopped,
        "interrupted": summary.interrupted,
        "timed_out": summary.timed_out,
        "seconds": round(summary.seconds, 3),
        "exit_code": summary.exit_code,
    }


@app.command()
def models(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List providers, models, deployments and their limits; for keys, only whether they are set.

    Shows each key's environment variable and whether it is set — never its value.

    Examples:
      runbench models

      runbench models --config runbench.example.toml --json
    """
    from runbench.config import key_is_set, load_config, resolve_config_path

    loaded = load_config(resolve_config_path(config))
    rows = [
        {
            "model": model.name,
            "aliases": list(model.aliases),
            "provider": model.provider,
            "deployment": deployment.name,
            "kind": deployment.kind,
            "max_concurrency": deployment.limits.max_concurrency,
            "rpm": deployment.limits.requests_per_minute,
            "tpm": deployment.limits.tokens_per_minute,
            "key_env": deployment.api_key_env,
            "key_set": key_is_set(deployment.api_key_env),
        }
        for model in loaded.models.values()
        for deployment in model.deployments
    ]
    if as_json:
        _print_json({"config": str(loaded.source) if loaded.source else None, "deployments": rows})
        return
    from runbench.console import models_table

    stdout.print(models_table(rows, loaded.source))


@app.command()
def tools(as_json: JsonOption = False) -> None:
    """List the 30 simulated tools: category, parameters, dependencies and error codes.

    A dependency list means the tool needs the output of at least one of those tools earlier in
    the workflow; a call with no dependency met is much likelier to fail.

    Example: runbench tools --json | jq '.[].name'
    """
    from runbench.workload.tools import registry

    if as_json:
        _print_json([asdict(tool) for tool in registry().values()])
        return
    from runbench.console import tools_table

    stdout.print(tools_table(list(registry().values())))


@app.command()
def tasks(
    task_types: TaskTypesOption = None,
    difficulty: DifficultyOption = None,
    tasks_file: Annotated[
        Path | None,
        typer.Option(
            "--tasks",
            help="A task library in JSON lines (schema in the README).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many tasks.")] = 20,
    as_json: JsonOption = False,
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
    types = parse_task_types(task_types) if task_types else None
    levels = parse_difficulties(difficulty) if difficulty else None
    chosen = [
        t
        for t in library.tasks
        if (types is None or t.task_type in types) and (levels is None or t.difficulty in levels)
    ]
    if as_json:
        _print_json(
            {
                "digest": library.digest(),
                "count": len(chosen),
                "tasks": [asdict(t) for t in chosen[:limit]],
            }
        )
        return
    from runbench.console import tasks_table

    stdout.print(tasks_table(chosen[:limit], total=len(chosen), digest=library.digest()))


def _comparison_json(comparison: Any) -> dict[str, Any]:
    def paired(result: Any) -> dict[str, Any]:
        return {
            **asdict(result),
            "pairs": result.pairs,
            "rate_a": result.rate_a,
            "rate_b": result.rate_b,
        }

    payload = asdict(comparison)
    payload["overall"] = paired(comparison.overall)
    payload["by_prompt_type"] = {name: paired(r) for name, r in comparison.by_prompt_type.items()}
    return payload


def _canonical(name: str, config: Path | None) -> str:
    """The canonical name of a configured model (alias or deployment); other names as given."""
    from runbench.config import load_config

    try:
        return load_config(_config_path(config)).resolve_model(name).name
    except UsageError:
        return name  # a model known only to the store, e.g. a legacy import


def _filters(
    models: str | None,
    prompt_types: str | None,
    difficulty: str | None,
    task_types: str | None,
    rates: str | None,
    phase: str | None,
) -> dict[str, Any]:
    from runbench.matrix import matrix_filters, parse_models

    filters: dict[str, Any] = matrix_filters(
        phase_name=phase,
        prompt_types=prompt_types,
        difficulties=difficulty,
        task_types=task_types,
        rates=rates,
    )
    if models:
        filters["model"] = parse_models(models)
    return filters


def _plot(frame: Any, path: Path | None, for_html: bool) -> bytes | None:
    if path is None and not for_html:
        return None
    from runbench.analysis.plots import report_png
    from runbench.analysis.report import report_from_frame

    judged = frame[frame["status"] != "error"]
    png = report_png(report_from_frame(frame, ("model", "prompt_type"))) if len(judged) else None
    if path is not None:
        if png is None:
            raise UsageError("nothing to plot: no judged tests match", hint="loosen the filters")
        path.write_bytes(png)
        stderr.print(f"[INFO] wrote {path}", highlight=False, markup=False)
    return png


def _emit_report(
    result: Any, output_format: ReportFormat, output: Path | None, png: bytes | None
) -> None:
    from runbench.analysis import render

    if output_format is ReportFormat.table and output is None:
        from runbench.console import report_table

        stdout.print(report_table(result))
        return
    texts = {
        ReportFormat.table: render.report_markdown,
        ReportFormat.markdown: render.report_markdown,
        ReportFormat.csv: render.report_csv,
        ReportFormat.json: lambda r: json.dumps(render.report_rows(r), indent=2) + "\n",
        ReportFormat.html: lambda r: render.report_html(r, png=png),
    }
    _emit(texts[output_format](result), output)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    stderr.print(f"[INFO] wrote {output}", highlight=False, markup=False)


def _progress_json(progress: Any) -> dict[str, Any]:
    return {
        "done": progress.done,
        "target": progress.target,
        "percent": round(progress.percent, 2),
        "complete": progress.is_complete,
        "cells": [
            {
                **asdict(cell.cell),
                "done": cell.done,
                "target": cell.target,
                "errored": cell.errored,
                "remaining": cell.remaining,
            }
            for cell in progress.cells
        ],
    }


# -- entry point ---------------------------------------------------------------------------


def _fail(message: str, hint: str | None, code: int) -> None:
    stderr.print(f"Error: {message}", highlight=False, markup=False)
    if hint:
        stderr.print(f"Hint: {hint}", highlight=False, markup=False)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every user-caused error becomes one line and an exit code."""
    logging.basicConfig(
        level=logging.WARNING, format="[%(levelname)s] %(message)s", stream=sys.stderr
    )
    try:
        code = app(args=argv, prog_name="runbench", standalone_mode=False)
    except RunbenchError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", None, EXIT_INTERRUPTED)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "runbench"
        _fail(exc.format_message(), f"see '{command} --help'", EXIT_USAGE)  # type: ignore[attr-defined]
    sys.exit(code if isinstance(code, int) else 0)


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors (a bad flag or value), recognised by shape.

    Typer vendors its own copy of Click in a private module, so the class cannot be imported
    portably; every usage error carries exit code 2 and a ``format_message`` method.
    """
    return getattr(exc, "exit_code", None) == EXIT_USAGE and callable(
        getattr(exc, "format_message", None)
    )
