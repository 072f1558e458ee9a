"""Terminal tables for the CLI (rich): what each command's result looks like on screen.

Tables fit an 80-column terminal by wrapping long names onto a second line, never by cutting
them: a model, deployment, variable or category name is what the reader needs to act on. When
stdout is not a terminal the console is wide (see ``output.py``), so nothing wraps in a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbench.analysis.compare import Comparison, PairedResult
from runbench.analysis.report import Report
from runbench.analysis.status import PlanProgress
from runbench.cli import safe
from runbench.migrate.legacy import LegacyImportReport
from runbench.plan import Cell
from runbench.runners.progress import EndpointRow, ProgressSnapshot
from runbench.runners.session import RunSummary
from runbench.workload.tasks import LibrarySummary, Task
from runbench.workload.tools import ToolRegistry

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table


def _table(title: str, caption: str | None = None) -> Table:
    return safe.table(title, caption)


def _fitted(
    title: str,
    caption: str,
    labels: list[str],
    numbers: list[str],
    rows: list[list[str]],
) -> Table:
    """A table whose number columns never shrink; label columns wrap when space is short."""
    table = _table(title, caption)
    for label in labels:
        table.add_column(label, overflow="fold")
    for offset, header in enumerate(numbers, start=len(labels)):
        width = max([len(header), *(len(row[offset]) for row in rows)])
        table.add_column(header, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    return table


def report_table(report: Report) -> Table:
    from runbench.analysis.render import TERMINAL_HEADERS, terminal_cells

    return _fitted(
        "results (each test once: its latest non-error attempt)",
        "full/part/fail: shares of tests; CI: 95 % Wilson interval of full, in %; wf: mean "
        "workflow score; tokens and cost: every paid attempt; infra: infrastructure errors; "
        "sup: superseded attempts (not in rates); no data: no judged test in the group",
        list(report.by),
        list(TERMINAL_HEADERS),
        [[*group.group, *terminal_cells(group)] for group in report.groups],
    )


def status_table(progress: PlanProgress) -> Table:
    rows = [
        [
            cell.cell.model,
            cell.cell.prompt_type,
            cell.cell.difficulty,
            cell.cell.task_type,
            f"{cell.cell.tool_success_rate:.2f}",
            str(cell.done),
            str(cell.target),
            str(cell.errored),
            str(cell.remaining),
        ]
        for cell in progress.cells
    ]
    missing = ", ".join(f"{d} {t}" for t, d in progress.missing)
    return _fitted(
        f"plan status: {progress.done}/{progress.target} tests done ({progress.percent:.1f} %)"
        + (f"; not complete: no task for {missing}" if missing else ""),
        "errored: tests whose only rows are infrastructure errors (they stay to be run)",
        ["model", "prompt_type", "difficulty", "task_type"],
        ["rate", "done", "target", "errored", "left"],
        rows,
    )


def _paired_row(label: str, result: PairedResult) -> list[str]:
    interval = result.interval
    shown = "-" if interval is None else f"{interval.low * 100:+.0f} to {interval.high * 100:+.0f}"
    return [
        label,
        str(result.pairs),
        str(result.both),
        str(result.only_a),
        str(result.only_b),
        str(result.neither),
        f"{result.difference * 100:+.1f}",
        shown,
        f"{result.p_value:.2g}",
    ]


def compare_table(comparison: Comparison) -> Table:
    a, b = comparison.model_a, comparison.model_b
    rows = [_paired_row(prompt, result) for prompt, result in comparison.by_prompt_type.items()]
    rows.append(_paired_row("all", comparison.overall))
    return _fitted(
        f"{a} (A) vs {b} (B): full success on identical tests",
        f"left out, unpaired: {comparison.unpaired_a} tests of A, {comparison.unpaired_b} of B. "
        "diff: rate A - rate B in points, CI: its 95 % Newcombe interval; p: exact McNemar",
        ["prompt_type"],
        ["pairs", "both", "A", "B", "neither", "diff", "CI", "p"],
        rows,
    )


def legacy_table(report: LegacyImportReport) -> Table:
    table = _table(
        f"legacy import{' (dry run)' if report.dry_run else ''}: {report.source.name}",
        "tests per leaf = full_success + total_errors; leaves: normal / doubled (the legacy "
        "bug doubled every counter) / mixed (doubled, then more tests); corrected: tests in "
        "doubled or mixed leaves; debris: 1.0/unknown buckets imported or skipped (tests)",
    )
    columns = ("model", "imported", "present", "corrected", "leaves n/d/m", "debris in/out")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right", overflow="fold")
    for counts in report.models:
        table.add_row(
            counts.model,
            str(counts.imported),
            str(counts.already_present),
            str(counts.corrected),
            f"{counts.normal_leaves}/{counts.doubled_leaves}/{counts.mixed_leaves}",
            f"{counts.debris_imported}/{counts.debris_skipped}",
        )
    return table


def frame_table(title: str, frame: pd.DataFrame) -> Table:
    """A small data frame as a table (the legacy leaf table under a report)."""
    table = _table(title)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("-" if value is None or value != value else str(value) for value in row))
    return table


def tools_table(registry: ToolRegistry) -> Table:
    rows = registry.rows()
    table = _table(
        f"{len(rows)} tools ({registry.source or 'built-in'}; digest {registry.digest()[:16]})",
        "depends on: needs any one of these earlier; ? = optional parameter",
    )
    for column in ("tool", "category", "depends on", "parameters", "error codes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["tool"]),
            str(row["category"]),
            ", ".join(row["dependencies"]) or "-",  # type: ignore[arg-type]
            ", ".join(row["parameters"]),  # type: ignore[arg-type]
            ", ".join(row["errors"]),  # type: ignore[arg-type]
        )
    return table


def library_table(summary: LibrarySummary, suite_version: str) -> Table:
    sources = ", ".join(str(source.path) for source in summary.sources) or "built-in"
    table = _table(
        f"task library: {sources}",
        f"{summary.total} tasks; difficulty from: {summary.rule}; digest {summary.digest[:16]}; "
        f"suite version {suite_version}",
    )
    for column in ("task_type", "difficulty", "tasks", "complexities", "with workflow"):
        table.add_column(column, overflow="fold", justify="right" if column == "tasks" else "left")
    for cell in summary.cells:
        complexities = ", ".join(f"{name} {count}" for name, count in cell.complexities.items())
        table.add_row(
            cell.task_type,
            cell.difficulty,
            str(cell.tasks),
            complexities or "-",
            str(cell.with_workflow),
        )
    return table


def tasks_table(tasks: list[Task], *, total: int) -> Table:
    table = _table(f"{len(tasks)} of {total} tasks")
    for column in ("task", "required tools, in order"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        table.add_row(task.task_id, " → ".join(task.required_tools))
    return table


def models_table(rows: list[dict[str, object]], source: object) -> Table:
    table = _table(
        f"models ({source or 'built-in defaults'})",
        "key: the environment variable that holds it, and whether it is set (values are never "
        "shown); conc: max concurrency; rpm/tpm: requests/tokens per minute",
    )
    for column in ("model", "deployment", "provider", "conc", "rpm", "tpm", "key"):
        table.add_column(
            column, justify="right" if column in ("conc", "rpm", "tpm") else "left", overflow="fold"
        )
    for row in rows:
        key = (
            "-"
            if not row["key_env"]
            else f"{row['key_env']} ({'set' if row['key_set'] else 'not set'})"
        )
        table.add_row(
            str(row["model"]),
            str(row["deployment"]),
            f"{row['provider']} ({row['kind']})",
            str(row["max_concurrency"]),
            str(row["rpm"] or "-"),
            str(row["tpm"] or "-"),
            key,
        )
    return table


def _cell_order(cell: Cell) -> tuple[str, str, str, str, float]:
    return cell.model, cell.prompt_type, cell.difficulty, cell.task_type, cell.tool_success_rate


def run_table(summary: RunSummary) -> Table:
    rows = [
        [
            cell.model,
            cell.prompt_type,
            cell.difficulty,
            cell.task_type,
            f"{cell.tool_success_rate:.2f}",
            str(sum(counts.values())),
            str(counts["full_success"]),
            str(counts["partial_success"]),
            str(counts["failure"]),
            str(counts["error"]),
        ]
        for cell, counts in sorted(summary.by_cell.items(), key=lambda item: _cell_order(item[0]))
    ]
    state = (
        "interrupted"
        if summary.interrupted
        else "stopped at --max-runtime"
        if summary.timed_out
        else "done"
    )
    return _fitted(
        f"run {summary.run_id[:8]} {state}: {summary.finished} tests finished "
        f"({summary.full} full), {summary.errors} errors, {summary.not_run} not run, "
        f"{summary.seconds:.1f} s",
        "err: infrastructure failures, recorded and run again next time (never the model's)",
        ["model", "prompt_type", "difficulty", "task_type"],
        ["rate", "ran", "full", "part", "fail", "err"],
        rows,
    )


def provider_table(summary: RunSummary, snapshot: ProgressSnapshot) -> Table:
    by_provider: dict[str, list[int]] = {}
    for row in snapshot.endpoints:
        totals = by_provider.setdefault(row.name.split("/", 1)[0], [0, 0, 0, 0, 0])
        for index, value in enumerate(
            (row.total, row.done, row.full, row.errors, row.rate_limited)
        ):
            totals[index] += value
    rows = [
        [
            provider,
            str(t[0]),
            str(t[1]),
            str(t[2]),
            str(t[3]),
            str(t[0] - t[1] - t[3]),
            str(t[4]),
            "stopped" if provider in summary.stopped else "ok",
        ]
        for provider, t in sorted(by_provider.items())
    ]
    rows += [
        [provider, "-", "0", "0", "0", "-", "0", "stopped"]
        for provider in summary.stopped
        if provider not in by_provider
    ]
    return _fitted(
        f"run {summary.run_id[:8]}: {summary.finished} tests finished ({summary.full} full), "
        f"{summary.errors} errors, {summary.seconds:.1f} s",
        "per provider; stopped: credentials rejected or quota exhausted (see the Error lines)",
        ["provider"],
        ["planned", "done", "full", "errors", "left", "429s", "state"],
        rows,
    )


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_table(snapshot: ProgressSnapshot) -> Table:
    """The live view: one row per endpoint (and shard, for ultra-parallel)."""
    table = _table(
        f"running: {snapshot.ended}/{snapshot.planned} tests, "
        f"{snapshot.full} full, ETA {_eta(snapshot.eta_s)}"
    )
    sharded = any(row.shard is not None for row in snapshot.endpoints)
    columns = ["shard"] if sharded else []
    columns += ["endpoint", "done/total", "full", "errors", "in flight", "limit", "429s"]
    for column in [*columns, "retries", "ETA"]:
        left = column in ("endpoint", "shard")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in snapshot.endpoints:
        table.add_row(*([row.shard or ""] if sharded else []), *_endpoint_cells(row))
    return table


def _endpoint_cells(row: EndpointRow) -> list[str]:
    return [
        row.name,
        f"{row.done + row.errors}/{row.total}",
        str(row.full),
        str(row.errors),
        str(row.in_flight),
        str(row.limit),
        str(row.rate_limited),
        str(row.retries),
        _eta(row.eta_s),
    ]


def progress_line(snapshot: ProgressSnapshot) -> str:
    """The plain periodic line (not a terminal)."""
    parts = [
        f"{'shard ' + row.shard + ' ' if row.shard else ''}{row.name}: "
        f"{row.done + row.errors}/{row.total} ({row.full} full, {row.errors} errors), in flight "
        f"{row.in_flight}, limit {row.limit}, 429s {row.rate_limited}, "
        f"retries {row.retries}, ETA {_eta(row.eta_s)}"
        for row in snapshot.endpoints
    ]
    head = f"{snapshot.ended}/{snapshot.planned} tests"
    return "[progress] " + "; ".join([head, *parts])
