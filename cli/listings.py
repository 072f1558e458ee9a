"""Rich renderables for ``runbench runs``, ``runbench errors`` and the ``--dry-run`` estimate.

Built from the values analysis returns, through the escaping factory ``safe``. Long names (model,
deployment, category, command line) wrap inside their column and are never cut with "…": a
user must be able to copy the exact name into the next command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbench.analysis.cost import Estimate
from runbench.analysis.error_groups import ErrorGroup
from runbench.analysis.runs import RunInfo
from runbench.cli import safe

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table


def _table(title: str, caption: str | None = None) -> Table:
    return safe.table(
        title,
        caption,
        pad_edge=True,
        padding=(0, 1),
        title_justify="left",
        caption_justify="left",
    )


def runs_table(runs: list[RunInfo]) -> RenderableType:
    """Runs newest first: one summary line each, then the command that ran, indented.

    The command gets a line of its own because it is long and must stay copyable: squeezed
    into a table column it would be folded mid-word at 80 columns.
    """
    lines: list[RenderableType] = [
        safe.text("runs (newest first)", style="bold"),
        safe.text(
            _run_line("run", "started (UTC)", "took", "exit", "done/planned", "errors"), style="dim"
        ),
    ]
    for run in runs:
        took = run.duration_s
        exit_code = str(run.exit_code) if run.ended_at else run.outcome or "running"
        lines.append(
            safe.text(
                _run_line(
                    run.run_id[:8],
                    (run.started_at or "?")[:19].replace("T", " "),
                    "-" if took is None else _duration(took),
                    exit_code,
                    f"{run.counts.finished}/{run.counts.planned}",
                    str(run.counts.errors),
                )
            )
        )
        lines.append(safe.text("  " + (run.command_line or "-"), style="cyan"))
    if not runs:
        lines.append(safe.text("no runs recorded in this store yet"))
    return safe.group(*lines)


def error_groups_table(groups: list[ErrorGroup]) -> RenderableType:
    """Error groups, largest first, one block each: count and category, endpoint, message.

    Each name has a line of its own, so a long deployment name is never folded or cut.
    """
    heading = safe.text("errors by endpoint, category and message", style="bold")
    lines: list[RenderableType] = [heading]
    for group in groups:
        first, last = group.first_seen[:19].replace("T", " "), group.last_seen[:19]
        seen = f"at {first}" if group.count == 1 else f"{first} – {last[11:]}"
        lines.append(safe.text(f"{group.count:>6}× {group.category}  {seen}", style="bold"))
        lines.append(safe.text(f"        {group.endpoint}  ({', '.join(group.models)})"))
        lines.append(safe.text(f"        {group.message}", style="yellow"))
        lines.append(safe.text(f"        e.g. {' '.join(group.example_test_ids)}", style="dim"))
    if not groups:
        lines.append(safe.text("no infrastructure errors"))
    else:
        lines.append(
            safe.text(
                "infrastructure errors only: these tests were not judged; resume runs them again",
                style="dim",
            )
        )
    return safe.group(*lines)


def estimate_table(result: Estimate) -> Table:
    """The ``--dry-run`` estimate per model and in total, with what each figure rests on."""
    table = _table("estimate", "cost: - where runbench.toml gives the model no prices")
    table.add_column("model", overflow="fold")
    table.add_column("tests", justify="right", no_wrap=True)
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("from", overflow="fold", ratio=1)
    for model in result.models:
        table.add_row(
            model.model,
            f"{model.tests:,}",
            f"{model.requests:,.0f}",
            f"{model.prompt_tokens + model.completion_tokens:,.0f}",
            "-" if model.cost_usd is None else f"${model.cost_usd:,.2f}",
            model.basis,
        )
    table.add_row(
        "total",
        f"{sum(model.tests for model in result.models):,}",
        f"{result.requests:,.0f}",
        f"{result.tokens:,.0f}",
        "-" if result.cost_usd is None else f"${result.cost_usd:,.2f}",
        "",
        style="bold",
    )
    return table


def _run_line(run: str, started: str, took: str, exit_code: str, done: str, errors: str) -> str:
    return f"{run:<9} {started:<20} {took:>7}  {exit_code:>7}  {done:>12}  {errors:>6}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
