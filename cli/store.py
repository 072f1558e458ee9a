"""Store commands: verify, compact, migrate (and the legacy import)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runbench.cli.options import DryRun, Json, StoreArgs, bundled
from runbench.cli.output import line, open_store, print_json, stdout
from runbench.errors import UsageError

if TYPE_CHECKING:
    from runbench.storage import Store


@bundled
def verify(where: StoreArgs, as_json: Json = False) -> None:
    """Read every stored piece and name each damaged one; exit 1 if any, 0 if clean.

    Damage is a torn or corrupt line, an unreadable Parquet part, a part whose schema differs, or
    an orphaned write-ahead segment of a writer that died (run `runbench compact` to seal it).

    Example: runbench verify --storage parquet --store results/
    """
    report = open_store(where.storage, where.store, must_exist=True).verify()
    if as_json:
        print_json({**asdict(report), "clean": report.is_clean})
    else:
        for item in report.damage:
            line(f"DAMAGED {item.describe()}")
        for note in report.notes:
            line(f"note: {note}")
        state = "clean" if report.is_clean else f"{len(report.damage)} damaged piece(s)"
        line(f"{report.rows} rows in {report.files} file(s): {state}")
    raise typer.Exit(0 if report.is_clean else 1)


@bundled
def compact(where: StoreArgs, as_json: Json = False) -> None:
    """Merge small Parquet parts and seal segments left by dead writers.

    Safe while other processes append, and safe to kill at any moment. On the JSON store it moves
    damaged lines, byte for byte, to quarantine.jsonl.

    Example: runbench compact --storage parquet
    """
    report = open_store(where.storage, where.store, must_exist=True).compact()
    if as_json:
        print_json(asdict(report))
    elif report.format == "parquet":
        line(
            f"parts {report.parts_before} -> {report.parts_after}; sealed {report.segments_sealed} "
            f"orphaned segment(s); removed {report.superseded_removed} superseded and "
            f"{report.temporary_removed} temporary file(s); {report.quarantined} quarantined"
        )
    else:
        line(f"{report.rows} rows; moved {report.quarantined} damaged line(s) to quarantine")


@bundled
def migrate(
    from_format: Annotated[str, typer.Option("--from", help="Source store format.")] = "json",
    to_format: Annotated[str, typer.Option("--to", help="Destination store format.")] = "parquet",
    to_store: Annotated[
        str | None,
        typer.Option(
            "--to-store",
            help="Destination root folder or s3:// URL if not the source's. [default: --store]",
        ),
    ] = None,
    legacy: Annotated[
        Path | None,
        typer.Option(
            "--legacy",
            help="Import a PILOT-Bench V3 master_database.json into the store chosen by "
            "--storage/STORAGE_FORMAT instead.",
        ),
    ] = None,
    legacy_logs: Annotated[
        Path | None,
        typer.Option(
            "--legacy-logs",
            help="Import every WorkflowBench *_log.json under this folder "
            "(workflow_quality_results/test_logs) into suite legacy-logs.",
        ),
    ] = None,
    dry_run: DryRun = False,
    as_json: Json = False,
    *,
    where: StoreArgs,
) -> None:
    """Copy records between the JSON and Parquet stores, or import a legacy database or logs.

    Streams, never duplicates (a row already in the destination is skipped), leaves the source
    untouched and verifies every copied row's content afterwards. Re-running adds nothing.

    Examples:
      runbench migrate                              # json -> parquet in ./runbench_results

      runbench migrate --from parquet --to json --store results/

      runbench migrate --legacy master_database.json --storage parquet

      runbench migrate --legacy-logs WorkflowBench/workflow_quality_results/test_logs
    """
    if legacy is not None or legacy_logs is not None:
        _import_one(legacy, legacy_logs, where, dry_run=dry_run, as_json=as_json)
        return
    from runbench.cli.run import refresh_summary
    from runbench.config import parse_storage_format
    from runbench.migrate import migrate_store

    source_format = parse_storage_format(from_format, source="--from")
    destination_format = parse_storage_format(to_format, source="--to")
    source = open_store(source_format, where.store, must_exist=True)
    destination = open_store(destination_format, to_store or where.store)
    if _identity(source) == _identity(destination):
        raise UsageError(
            "source and destination are the same store", hint="change --to or --to-store"
        )
    report = migrate_store(source, destination, dry_run=dry_run)
    destination.close()
    if not dry_run:
        refresh_summary(destination)
    if as_json:
        print_json(asdict(report))
    else:
        for text in report.describe():
            line(text)


def _import_one(
    legacy: Path | None, legacy_logs: Path | None, where: StoreArgs, *, dry_run: bool, as_json: bool
) -> None:
    if legacy is not None and legacy_logs is not None:
        raise UsageError("--legacy and --legacy-logs import different files: pass one")
    if legacy is not None:
        _import_legacy(legacy, where, dry_run=dry_run, as_json=as_json)
    elif legacy_logs is not None:
        _import_logs(legacy_logs, where, dry_run=dry_run, as_json=as_json)


def _import_legacy(path: Path, where: StoreArgs, *, dry_run: bool, as_json: bool) -> None:
    from runbench.cli.run import refresh_summary
    from runbench.cli.tables import legacy_table
    from runbench.migrate import import_legacy, read_legacy

    read_legacy(path)  # refuse a bad file before a store is created
    target = open_store(where.storage, where.store)
    report = import_legacy(path, target, dry_run=dry_run)
    target.close()
    if not dry_run:
        refresh_summary(target)
    if as_json:
        print_json(asdict(report))
        return
    stdout.print(legacy_table(report))
    for skipped in report.skipped:
        line(f"skipped {skipped.path}: {skipped.reason}")
    for ignored in report.ignored:
        line(f"ignored top-level entry '{ignored.name}': {ignored.reason}")


def _identity(store: Store) -> str:
    """What makes two opened stores the same store: the bucket URL, or the resolved folder."""
    url = getattr(store, "url", None)
    return str(url) if url else str(store.path.resolve())


def _import_logs(folder: Path, where: StoreArgs, *, dry_run: bool, as_json: bool) -> None:
    from runbench.cli.output import stderr_line
    from runbench.cli.run import refresh_summary
    from runbench.migrate.wb_logs import import_logs

    if not folder.is_dir():
        raise UsageError(f"--legacy-logs {folder} is not a folder", hint="pass a test_logs folder")
    target = open_store(where.storage, where.store)
    report = import_logs(folder, target, dry_run=dry_run)
    target.close()
    if not dry_run and report.imported:
        refresh_summary(target)
    for damaged in report.damaged:
        stderr_line(f"damaged log {damaged.path}: {damaged.reason}")
    if as_json:
        print_json(asdict(report))
    else:
        for text in report.describe():
            line(text)
    if report.damaged:
        raise typer.Exit(1)
