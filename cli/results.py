"""Result commands: report, status, compare — the plan language in, tables and files out."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from runbench.cli.options import Json, Output, PlanArgs, StoreArgs, Suite, bundled
from runbench.cli.output import emit, info, open_store, print_json, stdout, write_file
from runbench.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from runbench.analysis.cost import Prices
    from runbench.analysis.report import Report
    from runbench.config import RunbenchConfig
    from runbench.storage import Store
    from runbench.storage.base import Filters

# the legacy leaf table's columns a terminal has room for (legacy-json carries them all)
LEAF_SHOWN = (
    "path", "kind", "tests", "full", "partial", "failed", "avg_turns", "avg_tool_calls",
    "avg_workflow_score", "avg_execution_time",
)  # fmt: skip


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"
    html = "html"
    legacy_json = "legacy-json"


def _format_of(chosen: ReportFormat, as_json: bool) -> ReportFormat:
    """``--json`` is ``--format json``, as on every other command; with another format, refused.

    Raises:
        UsageError: ``--json`` beside ``--format`` of something else than json.
    """
    if not as_json:
        return chosen
    if chosen not in (ReportFormat.table, ReportFormat.json):
        raise UsageError(f"--json and --format {chosen.value}: give one of them")
    return ReportFormat.json


def _filters(plan: PlanArgs, config: RunbenchConfig) -> dict[str, Any]:
    """Store filters from the plan flags, model names made canonical through the config."""
    filters = plan.inputs().filters()
    if "model" in filters:
        filters["model"] = [config.canonical_name(name) for name in filters["model"]]
    return filters


def _require_names(store: Store, filters: dict[str, Any], suite: str | None) -> None:
    """A model or suite the store has never seen is a typo until shown otherwise: say so."""
    from runbench.analysis.matching import require_stored, require_suite

    require_suite(store, suite)
    require_stored(store, "model", filters.get("model", ()), flag="--model")


@bundled
def report(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Comma list of: model, prompt_type, difficulty, task_type, tool_success_rate, "
            "provider, deployment, suite, suite_version, protocol, temperature, top_p, "
            "max_tokens, seed.",
        ),
    ] = "model,prompt_type",
    suite: Suite = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="Output format.")
    ] = ReportFormat.table,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw the first two --by fields here: PNG, SVG or PDF by the extension.",
            show_default=False,
        ),
    ] = None,
    output: Output = None,
    as_json: Json = False,
    *,
    plan: PlanArgs,
    where: StoreArgs,
) -> None:
    """Results per group: each test counted once (its latest non-error attempt).

    Rates have 95 % Wilson intervals; a group without judged tests says "no data". Tokens (and
    cost, given prices in runbench.toml) count every paid attempt. Infrastructure errors and
    superseded attempts are shown apart and never counted in a rate. Legacy imports appear only
    with --suite legacy-v3 or all.

    Examples:
      STORAGE_FORMAT=parquet runbench report --by model,difficulty

      runbench report --phase 5.3 --format markdown

      runbench report --format html --output report.html --plot rates.svg

      runbench report --json        # the same as --format json, as on every other command
    """
    from runbench.analysis import report as reporting
    from runbench.analysis.cost import prices_of_config

    output_format = _format_of(output_format, as_json)

    config = plan.configuration()
    filters, prices = _filters(plan, config), prices_of_config(config)
    opened = open_store(where.storage, where.store, must_exist=True)
    if output_format in (ReportFormat.legacy_json, ReportFormat.html):
        _require_names(opened, filters, suite)
    if output_format is ReportFormat.legacy_json:
        emit(_legacy_json(opened, filters, suite), output)
        return
    group_by = reporting.parse_group_by(by)
    if output_format is ReportFormat.html:
        emit(_html(opened, group_by, filters, suite, prices), output)
    columns = reporting.report_columns(list(dict.fromkeys([*group_by, "model", "prompt_type"])))
    frame = reporting.checked_frame(opened, filters, suite, columns)
    if plot is not None:
        _plot(reporting.report_from_frame(frame, group_by[:2]), plot)
    if output_format is not ReportFormat.html:
        _emit_report(reporting.report_from_frame(frame, group_by, prices), output_format, output)
    if output_format is ReportFormat.table and output is None:
        _legacy_leaves(opened, suite, filters)


def _legacy_json(store: Store, filters: dict[str, Any], suite: str | None) -> str:
    from runbench.analysis.summary import legacy_json

    return json.dumps(legacy_json(store, filters, suite), indent=2) + "\n"


def _legacy_leaves(store: Store, suite: str | None, filters: dict[str, Any]) -> None:
    """Under a report that selects legacy imports: their leaves with the averages V3 kept."""
    from runbench.analysis.report import legacy_leaves_for
    from runbench.cli.tables import frame_table

    leaves = legacy_leaves_for(store, suite, filters.get("model"))
    if leaves is not None and len(leaves):
        shown = leaves[[name for name in LEAF_SHOWN if name in leaves.columns]]
        stdout.print(
            frame_table(
                "legacy leaves (averages as the V3 file kept them; --format legacy-json "
                "has every field)",
                shown,
            )
        )


def _html(
    store: Store, group_by: Sequence[str], filters: Filters, suite: str | None, prices: Prices
) -> str:
    from importlib.metadata import version

    from runbench.analysis.document import shared_report_html

    return shared_report_html(
        store, group_by, filters=filters, suite=suite, prices=prices, version=version("runbench")
    )


def _plot(result: Report, path: Path) -> None:
    from runbench.analysis.plots import plot_bytes, plot_format

    if not any(group.tests for group in result.groups):
        raise UsageError("nothing to plot: no judged tests match", hint="loosen the filters")
    write_file(path, plot_bytes(result, plot_format(path)))


def _emit_report(result: Report, output_format: ReportFormat, output: Path | None) -> None:
    from runbench.analysis import render

    if output_format is ReportFormat.table and output is None:
        from runbench.cli.tables import report_table

        stdout.print(report_table(result))
        return
    texts = {
        ReportFormat.table: render.report_markdown,
        ReportFormat.markdown: render.report_markdown,
        ReportFormat.csv: render.report_csv,
        ReportFormat.json: lambda r: json.dumps(render.report_rows(r), indent=2) + "\n",
    }
    emit(texts[output_format](result), output)


@bundled
def status(plan: PlanArgs, where: StoreArgs, as_json: Json = False) -> None:
    """How far a plan has got: per cell, tests done of the target; exit 0 when complete, 1 if not.

    The plan is the runners' plan (--model, --plan, --phase, the matrix flags; without --model
    the models of runbench.toml). A test is done when a non-error row exists for its test id.
    Never creates a store.

    Examples:
      runbench status --model gpt-4o-mini --phase 5.1

      runbench status --model a,b --prompt-types all --difficulty easy,medium --num-instances 50
    """
    show_status(plan, where, plan.configuration(), as_json=as_json)


def show_status(
    plan: PlanArgs, where: StoreArgs, config: RunbenchConfig, *, as_json: bool
) -> NoReturn:
    """``status`` with the config already loaded (a run's ``--progress`` passes the one it has)."""
    from runbench.analysis.status import plan_progress
    from runbench.matrix import configured_settings
    from runbench.runners.session import plan_matrix

    inputs = plan.inputs()
    models, from_config = inputs.models_to_run(config)
    if from_config:
        info(f"no --model: the models of {plan.config_path()}: {', '.join(models)}")
    fitted = plan_matrix(inputs, config, plan.tasks_file, plan.tools_file)
    for note in fitted.notes():
        info(note)
    store = open_store(where.storage, where.store, must_exist=True)
    names = [config.canonical_name(name) for name in models]
    settings = configured_settings(config, names, fitted.matrix.protocol)
    progress = plan_progress(store, names, fitted.matrix, settings, check_models=True)
    if as_json:
        print_json(progress.to_dict())
    else:
        from runbench.cli.tables import status_table

        stdout.print(status_table(progress))
    raise typer.Exit(0 if progress.is_complete else 1)


@bundled
def compare(
    model_a: Annotated[str, typer.Argument(help="Model A (name, alias or deployment).")],
    model_b: Annotated[str, typer.Argument(help="Model B.")],
    suite: Suite = None,
    as_json: Json = False,
    *,
    plan: PlanArgs,
    where: StoreArgs,
) -> None:
    """Compare two models on identical tests: exact McNemar p and the rate difference with its CI.

    Tests pair when suite, suite version, prompt type, difficulty, task type, tool success rate
    and instance are equal; tests without a partner are counted and left out.

    Example: runbench compare gpt-4o-mini qwen2.5-72b-instruct --phase 5.1
    """
    from runbench.analysis.compare import compare_models

    if plan.model:
        raise UsageError("compare takes its two models as arguments, not --model")
    config = plan.configuration()
    filters = _filters(plan, config)
    opened = open_store(where.storage, where.store, must_exist=True)
    first, second = (config.canonical_name(name) for name in (model_a, model_b))
    comparison = compare_models(opened, first, second, filters=filters, suite=suite)
    if as_json:
        print_json(comparison.to_dict())
    else:
        from runbench.cli.tables import compare_table

        stdout.print(compare_table(comparison))
