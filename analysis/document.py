"""The HTML report people share, assembled from a store in one call.

``report --format html`` needs more than the table: where the numbers came from (provenance),
the same rows broken down by difficulty and task type, the error categories, the plot, and what
was left out. Putting the assembly here keeps the CLI to one call and lets a notebook produce
the identical file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runbench.analysis.plots import report_svg
from runbench.analysis.render import Provenance, breakdown_fields, report_html
from runbench.analysis.report import (
    ALL_SUITES,
    LEGACY_SUITES,
    load_frame,
    report_columns,
    report_from_frame,
)
from runbench.storage import Filters, Store

if TYPE_CHECKING:
    from runbench.analysis.cost import Prices


def legacy_rows_hidden(store: Store, filters: Filters | None, suite: str | None) -> int:
    """Rows a report leaves out because they are legacy imports (0 when the suite shows them)."""
    if suite is not None:
        return 0
    suites = store.scan(["suite"], filters).column("suite").to_pandas()
    return int(suites.isin(LEGACY_SUITES).sum())


def shared_report_html(
    store: Store,
    by: Sequence[str] = ("model", "prompt_type"),
    *,
    filters: Filters | None = None,
    suite: str | None = None,
    prices: Prices | None = None,
    version: str = "",
    title: str = "runbench report",
) -> str:
    """The self-contained HTML report of ``store`` grouped by ``by``.

    The plot shows the first two grouping fields (a heatmap and bars; bars for one field) and
    is left out when no test was judged.
    """
    by = tuple(by)
    extra = [fields for _, fields in breakdown_fields(by)]
    columns = report_columns(list(dict.fromkeys([*by, *(f for fields in extra for f in fields)])))
    frame = load_frame(store, filters, suite, columns)
    report = report_from_frame(frame, by, prices)
    breakdowns = {
        heading: report_from_frame(frame, fields, prices)
        for heading, fields in breakdown_fields(by)
    }
    plotted = report if len(by) <= 2 else report_from_frame(frame, by[:2], prices)
    svg = report_svg(plotted) if any(group.has_data for group in plotted.groups) else None
    provenance = Provenance(
        store=str(store.root),
        storage=store.format,
        version=version,
        filters=dict(filters or {}),
        suite=None if suite is None else ("every suite" if suite == ALL_SUITES else suite),
        legacy_rows_hidden=legacy_rows_hidden(store, filters, suite),
    )
    return report_html(report, title=title, svg=svg, provenance=provenance, breakdowns=breakdowns)
