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
from rich import box
from rich.console import Console
from rich.table import Table

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


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


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
    stderr.print(f"[INFO] storage: {location.format} ({path.resolve()})", highlight=False)
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


def _import_legacy(
    path: Path, storage: str | None, store: Path | None, *, dry_run: bool, as_json: bool
) -> None:
    from runbench.migrate import import_legacy, read_legacy

    read_legacy(path)  # refuse a bad file before a store is created
    target = _open(storage, store)
    report = import_legacy(path, target, dry_run=dry_run)
    target.close()
    if as_json:
        _print_json(asdict(report))
        return
    table = Table(title=f"legacy import{' (dry run)' if dry_run else ''}: {path.name}")
    for column in ("model", "imported", "already present", "corrected", "skipped leaves"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for counts in report.models:
        table.add_row(
            counts.model,
            str(counts.imported),
            str(counts.already_present),
            str(counts.corrected),
            str(counts.skipped_leaves),
        )
    stdout.print(table)
    for skipped in report.skipped:
        stdout.print(f"skipped {skipped.path}: {skipped.reason}", highlight=False)
    stdout.print("corrected = tests in leaves whose counters were doubled by the legacy bug")


@app.command()
def report(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Comma list of: model, prompt_type, difficulty, task_type, "
            "tool_success_rate, provider, deployment, suite.",
        ),
    ] = "model,prompt_type",
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="Only this suite; 'all' includes legacy-v3 imports."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.table,
    storage: StorageOption = None,
    store: StoreOption = None,
) -> None:
    """Results per group: each test counted once (its latest non-error attempt).

    Rates have 95 % Wilson intervals; infrastructure errors and superseded attempts are shown
    apart and never counted in a rate.

    Example: STORAGE_FORMAT=parquet runbench report --by model,difficulty
    """
    from runbench.analysis import build_report
    from runbench.analysis.report import parse_group_by

    group_by = parse_group_by(by)
    result = build_report(
        _open(storage, store, must_exist=True),
        group_by,
        filters={"model": model} if model else None,
        suite=suite,
    )
    rows = [
        {**dict(zip(result.by, group.group, strict=True)), **_flat(asdict(group))}
        for group in result.groups
    ]
    if output is OutputFormat.json:
        _print_json(rows)
    elif output is OutputFormat.csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["tests"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        stdout.print(_report_table(result))


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    interval = values.pop("full_interval")
    values.pop("group")
    return {**values, "full_low": interval["low"], "full_high": interval["high"]}


def _report_table(result: Any) -> Table:
    table = Table(
        title="results (latest non-error attempt per test)", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for name in result.by:
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=20)
    for column in ("tests", "full", "95% CI", "part", "fail", "wf", "infra", "sup"):
        table.add_column(column, justify="right", no_wrap=True, min_width=max(4, len(column)))
    for group in result.groups:
        interval = group.full_interval
        table.add_row(
            *group.group,
            str(group.tests),
            f"{group.full_rate:.0%}",
            f"{interval.low * 100:.0f}-{interval.high * 100:.0f}",
            f"{group.partial_rate:.0%}",
            f"{group.failure_rate:.0%}",
            "-" if group.mean_workflow_score is None else f"{group.mean_workflow_score:.2f}",
            str(group.infra_errors),
            str(group.superseded_attempts),
        )
    return table


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
