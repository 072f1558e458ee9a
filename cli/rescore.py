"""``runbench rescore``: judge stored transcripts again and say how far the stored scores agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from runbench.cli.options import (
    Config,
    Json,
    StoreArgs,
    Suite,
    TasksFile,
    ToolIndexFile,
    ToolsFile,
    bundled,
)
from runbench.cli.output import line, open_store, print_json

if TYPE_CHECKING:
    from runbench.runners.rescore import RescoreReport

Tolerance = Annotated[
    float,
    typer.Option("--tolerance", help="Largest difference of two scores that still agree.", min=0.0),
]
ShowDifferences = Annotated[
    int,
    typer.Option(
        "--show-differences",
        help="Name up to N differing tests per field, with both values.",
        min=0,
        metavar="N",
    ),
]


@bundled
def rescore(
    suite: Suite = None,
    tasks_file: TasksFile = None,
    tools_file: ToolsFile = None,
    tool_index: ToolIndexFile = None,
    tolerance: Tolerance = 1e-6,
    show_differences: ShowDifferences = 0,
    config: Config = None,
    as_json: Json = False,
    *,
    where: StoreArgs,
) -> None:
    """Judge stored transcripts again under their suite's rules, without calling any model.

    Prints, per field (tool_calls, workflow_score, phase2_score, quality_score, final_score,
    success), how many tests agree with what is stored: scores within --tolerance, tool calls
    and success exactly. Nothing is written. WorkflowBench logs (suite legacy-logs) need its
    registry (--tools) and tool index (--tool-index); runbench's own runs are replayed from their
    saved replies against the run's task library (--tasks, --tools; the built-in ones by default).

    Examples:
      runbench rescore --suite legacy-logs --tools tool_registry.json --tool-index tool_index.pkl

      runbench rescore --suite legacy-logs --tolerance 1e-4 --show-differences 5 --json

      runbench rescore --suite workflow                   # runs saved with --save-logs
    """
    from runbench.config import load_config, resolve_config_path
    from runbench.runners.rescore import run_rescore

    settings = load_config(resolve_config_path(config))
    report = run_rescore(
        open_store(where.storage, where.store, must_exist=True),
        suite=suite or "workflow",
        tools=tools_file or settings.tools,
        tool_index=tool_index or settings.tool_index,
        tolerance=tolerance,
        show_differences=show_differences,
        tasks=tasks_file,
    )
    if as_json:
        print_json(report.summary())
    else:
        _print(report)


def _print(report: RescoreReport) -> None:
    line(
        f"rescored {report.tests} test(s) of suite {report.suite} "
        f"(tolerance {report.tolerance:g}, similarity {report.similarity_source})"
    )
    line(f"{'field':<16}{'equal':>9}{'total':>9}{'agree':>10}{'max |diff|':>14}")
    for name, counts in report.fields.items():
        share = f"{100 * counts.equal / counts.total:.2f}%" if counts.total else "-"
        line(f"{name:<16}{counts.equal:>9}{counts.total:>9}{share:>10}{counts.max_abs_diff:>14.3g}")
    for reason, count in sorted(report.not_judged.items()):
        line(f"not judged: {count} test(s), {reason}")
    for item in report.differences:
        note = f"  ({item.note})" if item.note else ""
        stored, judged = _shown(item.stored), _shown(item.judged)
        line(f"{item.field} {item.test_id}: stored {stored}, judged {judged}{note}")


def _shown(value: object) -> object:
    """A tool sequence as the list ``--json`` shows, so both outputs print one value alike."""
    return list(value) if isinstance(value, tuple) else value
