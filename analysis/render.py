"""Reports as text: flat rows for JSON and CSV, a Markdown table, and a self-contained HTML page.

The terminal table is the CLI's (it needs rich); everything here returns strings or plain data,
so it works the same from Python, in CI and in a notebook. A group without judged tests shows
"no data" (``null`` in JSON, empty in CSV), never 0 %: nothing was measured there.

Names are data, never markup or formulas: a CSV text cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, as in
``=HYPERLINK(…)``) gets OWASP's leading single quote; Markdown cells escape ``|`` (which would
split the cell); both show control characters as escapes. Numbers stay numbers.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runbench.analysis.report import GroupResult, Report
from runbench.analysis.stats import Interval
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.redact import escape_control

NO_DATA = "no data"
RATE_DIGITS = 4  # 0.7915: a hundredth of a percent, finer than any interval we can measure
MEAN_DIGITS = 3
COST_DIGITS = 4
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula start


def shown(value: object, *, lines: bool = False) -> str:
    r"""Text for an HTML page: control, bidi and invisible characters escaped, then HTML.

    A model named ``a\u202eb`` or holding ``ESC[2J`` reads as what it is; names and messages
    come from servers and files nobody here wrote. ``lines`` keeps line breaks.
    """
    return html.escape(escape_control(str(value), keep_newlines=lines))


def report_rows(report: Report, *, rounded: bool = False) -> list[dict[str, Any]]:
    """One flat dict per group: group columns first, then every figure (for JSON and CSV).

    Rates and intervals of a group without judged tests are ``None``. ``rounded`` rounds rates
    to 4 decimals, means to 3 and cost to 4, for files people read (CSV); JSON keeps full
    precision so scripts can recompute.
    """

    def _round(value: float | None, digits: int) -> float | None:
        return value if value is None or not rounded else round(value, digits)

    rows = []
    for group in report.groups:
        row: dict[str, Any] = dict(zip(report.by, group.group, strict=True))
        row.update(tests=group.tests, full=group.full, partial=group.partial, failure=group.failure)
        for name in ("full", "partial", "failure"):
            interval: Interval | None = getattr(group, f"{name}_interval")
            row[f"{name}_rate"] = _round(getattr(group, f"{name}_rate"), RATE_DIGITS)
            row[f"{name}_low"] = None if interval is None else _round(interval.low, RATE_DIGITS)
            row[f"{name}_high"] = None if interval is None else _round(interval.high, RATE_DIGITS)
        row["weighted_success"] = _round(group.weighted_success, RATE_DIGITS)
        for name in (
            "mean_workflow_score",
            "mean_phase2_score",
            "mean_final_score",
            "mean_turns",
            "mean_tool_calls",
            "mean_tool_coverage",
        ):
            row[name] = _round(getattr(group, name), MEAN_DIGITS)
        row.update(
            infra_errors=group.infra_errors,
            superseded_attempts=group.superseded_attempts,
            prompt_tokens=group.prompt_tokens,
            completion_tokens=group.completion_tokens,
            cost_usd=_round(group.cost_usd, COST_DIGITS),
        )
        row.update(
            {
                f"share_{name}": _round(group.error_shares.get(name, 0.0), RATE_DIGITS)
                if group.has_data
                else None
                for name in MODEL_ERROR_CATEGORIES
            }
        )
        rows.append(row)
    return rows


def report_csv(report: Report) -> str:
    """CSV of ``report_rows``, rounded; "no data" cells are empty."""
    rows = [
        {name: csv_cell(value) for name, value in row.items()}
        for row in report_rows(report, rounded=True)
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [*report.by, "tests"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet shows, not runs: formula leads get a leading ``'``.

    Control characters are escaped too: the CSV often goes to a terminal before a spreadsheet.
    """
    if not isinstance(value, str):
        return value
    lead = "'" if value.startswith(FORMULA_LEADS) else ""
    return lead + escape_control(value)


def markdown_cell(text: str) -> str:
    """A Markdown table cell: ``|`` escaped, control characters (newlines too) as escapes."""
    return escape_control(text).replace("|", "\\|")


def _percent(rate: float | None) -> str:
    return NO_DATA if rate is None else f"{rate:.1%}"


def interval_label(interval: Interval | None) -> str:
    """An interval as its two ends in percent, e.g. "0.0–7.1 %" (never a ± that hides skew)."""
    if interval is None:
        return NO_DATA
    return f"{interval.low * 100:.1f}–{interval.high * 100:.1f} %"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _cost(value: float | None) -> str:
    return "–" if value is None else f"${value:,.2f}"


def _top_errors(group: GroupResult) -> str:
    ranked = sorted(group.error_shares.items(), key=lambda item: -item[1])[:2]
    return ", ".join(f"{name.removesuffix('_errors')} {share:.0%}" for name, share in ranked) or "–"


SUMMARY_HEADERS = (
    "tests",
    "full",
    "95 % CI",
    "partial",
    "failure",
    "weighted",
    "workflow",
    "turns",
    "top errors",
    "tokens in",
    "tokens out",
    "cost",
    "infra errors",
    "superseded",
)


def summary_cells(group: GroupResult) -> list[str]:
    """The cells of one row of the human-readable table (Markdown and HTML)."""
    return [
        str(group.tests),
        _percent(group.full_rate),
        interval_label(group.full_interval),
        _percent(group.partial_rate),
        _percent(group.failure_rate),
        NO_DATA if group.weighted_success is None else f"{group.weighted_success:.3f}",
        _mean(group.mean_workflow_score),
        _mean(group.mean_turns),
        _top_errors(group),
        _count(group.prompt_tokens),
        _count(group.completion_tokens),
        _cost(group.cost_usd),
        str(group.infra_errors),
        str(group.superseded_attempts),
    ]


TERMINAL_HEADERS = ("tests", "full", "CI", "part", "fail", "wf", "tokens", "cost", "infra", "sup")


def terminal_cells(group: GroupResult) -> list[str]:
    """The figures of one row of the terminal table (``TERMINAL_HEADERS``), short and whole.

    A group without judged tests reads "no data" / "-", never 0 %.
    """
    interval = group.full_interval
    tokens = None
    if group.prompt_tokens is not None or group.completion_tokens is not None:
        tokens = (group.prompt_tokens or 0) + (group.completion_tokens or 0)
    return [
        str(group.tests),
        "no data" if group.full_rate is None else f"{group.full_rate:.0%}",
        "-" if interval is None else f"{interval.low * 100:.0f}-{interval.high * 100:.0f}",
        "-" if group.partial_rate is None else f"{group.partial_rate:.0%}",
        "-" if group.failure_rate is None else f"{group.failure_rate:.0%}",
        "-" if group.mean_workflow_score is None else f"{group.mean_workflow_score:.2f}",
        "-" if tokens is None else _short_count(tokens),
        "-" if group.cost_usd is None else f"${group.cost_usd:,.2f}",
        str(group.infra_errors),
        str(group.superseded_attempts),
    ]


def _short_count(value: int) -> str:
    """1234 → 1.2k, 5600000 → 5.6M: token counts fit a narrow column."""
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= limit:
            return f"{value / limit:.1f}{suffix}"
    return str(value)


def _sort_keys(group: GroupResult) -> list[str]:
    """The value each summary cell sorts by in the HTML page ("" sorts no data last)."""
    interval = group.full_interval
    return [
        str(group.tests),
        _key(group.full_rate),
        _key(None if interval is None else interval.low),
        _key(group.partial_rate),
        _key(group.failure_rate),
        _key(group.weighted_success),
        _key(group.mean_workflow_score),
        _key(group.mean_turns),
        _top_errors(group),
        _key(group.prompt_tokens),
        _key(group.completion_tokens),
        _key(group.cost_usd),
        str(group.infra_errors),
        str(group.superseded_attempts),
    ]


def _key(value: float | None) -> str:
    return "" if value is None else repr(value)


def report_markdown(report: Report) -> str:
    headers = [*report.by, *SUMMARY_HEADERS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for group in report.groups:
        cells = [markdown_cell(cell) for cell in [*group.group, *summary_cells(group)]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Each test counted once (latest non-error attempt); 95 % Wilson intervals; "
        "infrastructure errors and superseded attempts are not in any rate; "
        f"'{NO_DATA}': no judged test in the group."
    )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a shared report came from, so a reader can reproduce or doubt it.

    ``hidden`` names what the figures leave out and how much (e.g. legacy rows).
    """

    store: str
    storage: str
    version: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    suite: str | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    legacy_rows_hidden: int = 0

    def items(self) -> list[tuple[str, str]]:
        filters = ", ".join(f"{key}={_filter_text(value)}" for key, value in self.filters.items())
        return [
            ("generated", self.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("store", f"{self.store} ({self.storage})"),
            ("filters", filters or "none"),
            ("suite", self.suite or "workflow suites (legacy imports hidden)"),
            ("runbench", self.version),
        ]


def _filter_text(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        return str(value)
    return "|".join(map(str, value))


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
.group { text-align: left; white-space: nowrap; }
td.group { font-weight: 600; } td.text { text-align: left; } td.nodata { color: #999; }
td:not(.text) { white-space: nowrap; }
dl.provenance { display: grid; grid-template-columns: max-content auto; gap: 0.1rem 1rem; }
dl.provenance dt { font-weight: 600; } dl.provenance dd { margin: 0; }
img { max-width: 100%; } p.note { color: #555; font-size: 0.85rem; }
"""

# Sorting by a click on a header: numbers by the cell's data-sort value, no data always last.
SORT_SCRIPT = """
document.addEventListener("click", (event) => {
  const th = event.target.closest("table.sortable th");
  if (!th) return;
  const table = th.closest("table"), body = table.tBodies[0];
  const index = Array.from(th.parentNode.children).indexOf(th);
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  th.parentNode.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const value = (row) => {
    const cell = row.children[index];
    return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent;
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === "" || y === "") return x === y ? 0 : x === "" ? 1 : -1;
    const nx = Number(x), ny = Number(y);
    const order = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
});
"""


def report_table_html(report: Report, *, table_id: str = "results") -> str:
    """The report's sortable HTML table (shared by the HTML report and the viewer)."""
    head = "".join(f'<th class="group">{html.escape(name)}</th>' for name in report.by)
    head += "".join(f"<th>{html.escape(name)}</th>" for name in SUMMARY_HEADERS)
    body = []
    for group in report.groups:
        cells = "".join(f'<td class="group">{shown(part)}</td>' for part in group.group)
        for header, cell, key in zip(
            SUMMARY_HEADERS, summary_cells(group), _sort_keys(group), strict=True
        ):
            kind = "text" if header == "top errors" else "nodata" if cell == NO_DATA else ""
            css = f' class="{kind}"' if kind else ""
            cells += f'<td{css} data-sort="{html.escape(key)}">{html.escape(cell)}</td>'
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="sortable" id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def error_category_table_html(report: Report, *, table_id: str = "error-categories") -> str:
    """Tests of each model-side error category per group (counts, with shares in the title)."""
    used = [
        name
        for name in MODEL_ERROR_CATEGORIES
        if any(name in group.error_shares for group in report.groups)
    ]
    head = "".join(f'<th class="group">{html.escape(name)}</th>' for name in report.by)
    head += "<th>tests</th>"
    head += "".join(f"<th>{html.escape(name.removesuffix('_errors'))}</th>" for name in used)
    head += "<th>infra errors</th>"
    rows = []
    for group in report.groups:
        cells = "".join(f'<td class="group">{shown(part)}</td>' for part in group.group)
        cells += f"<td>{group.tests}</td>"
        counts = group.error_counts
        for name in used:
            share = group.error_shares.get(name)
            title = "" if share is None else f' title="{share:.1%} of tests"'
            cells += f"<td{title}>{counts.get(name, 0)}</td>"
        cells += f"<td>{group.infra_errors}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="sortable" id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _hidden_note(report: Report, provenance: Provenance | None) -> str:
    parts = [
        "Each test is counted once (its latest non-error attempt). Intervals are 95 % Wilson "
        f"intervals. '{NO_DATA}' marks a group without a judged test."
    ]
    hidden = [
        f"{report.infra_errors} infrastructure error row(s) (API, rate limit, timeout, crash: "
        "the model was never judged)",
        f"{report.superseded_attempts} superseded attempt(s)",
    ]
    if provenance is not None and provenance.legacy_rows_hidden:
        hidden.append(
            f"{provenance.legacy_rows_hidden} legacy imported row(s) (report --suite all shows "
            "them)"
        )
    parts.append("Not in any rate: " + "; ".join(hidden) + ".")
    return "".join(f"<p class='note'>{shown(text)}</p>" for text in parts)


def report_html(
    report: Report,
    *,
    title: str = "runbench report",
    png: bytes | None = None,
    svg: str | None = None,
    provenance: Provenance | None = None,
    breakdowns: Mapping[str, Report] | None = None,
) -> str:
    """One HTML file: provenance, the sortable table, breakdowns, error categories, the plot.

    Everything is embedded (plot, style, the few lines of sorting script), so the file opens
    offline and can be mailed as is. ``breakdowns`` maps a heading (e.g. "by difficulty") to a
    report of the same rows grouped differently.
    """
    sections = [f"<h1>{html.escape(title)}</h1>"]
    if provenance is not None:
        items = "".join(
            f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"
            for name, value in provenance.items()
        )
        sections.append(f'<dl class="provenance">{items}</dl>')
    sections.append(report_table_html(report))
    sections.append(_hidden_note(report, provenance))
    if svg is not None:
        sections.append(f'<figure class="plot">{_inline_svg(svg)}</figure>')
    elif png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        sections.append(f'<img alt="full-success rates" src="data:image/png;base64,{encoded}">')
    for index, (heading, breakdown) in enumerate((breakdowns or {}).items()):
        sections.append(f"<h2>{html.escape(heading)}</h2>")
        sections.append(report_table_html(breakdown, table_id=f"breakdown-{index}"))
    sections.append("<h2>error categories</h2>")
    sections.append(
        "<p class='note'>Tests whose result was not full success, by the model-side error "
        "category; infrastructure errors are counted apart.</p>"
    )
    sections.append(error_category_table_html(report))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}"
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def _inline_svg(svg: str) -> str:
    """An SVG document without its XML prolog, ready to sit inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def breakdown_fields(by: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The breakdowns a shared report adds: the first grouping field × difficulty, × task type."""
    lead = by[0] if by else "model"
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for extra in ("difficulty", "task_type"):
        if extra not in by:
            fields = (lead, extra) if lead != extra else (extra,)
            chosen.append((f"by {extra.replace('_', ' ')}", fields))
    return chosen
