"""Reports as text: flat rows for JSON and CSV, a Markdown table, and a self-contained HTML page.

The terminal table is the CLI's (it needs rich); everything here returns strings or plain data,
so it works the same from Python, in CI and in a notebook.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import asdict
from typing import Any

from runbench.analysis.report import GroupResult, Report

from runbench.records import MODEL_ERROR_CATEGORIES


def report_rows(report: Report) -> list[dict[str, Any]]:
    """One flat dict per group: group columns first, then every figure (for JSON and CSV)."""
    rows = []
    for group in report.groups:
        values = asdict(group)
        row: dict[str, Any] = dict(zip(report.by, group.group, strict=True))
        for name in ("full", "partial", "failure"):
            interval = values.pop(f"{name}_interval")
            values[f"{name}_low"], values[f"{name}_high"] = interval["low"], interval["high"]
        values.pop("group")
        shares = values.pop("error_shares")
        row.update(values)
        row.update({f"share_{name}": shares.get(name, 0.0) for name in MODEL_ERROR_CATEGORIES})
        rows.append(row)
    return rows


def report_csv(report: Report) -> str:
    rows = report_rows(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [*report.by, "tests"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _percent(rate: float) -> str:
    return f"{rate:.1%}"


def _interval(group: GroupResult) -> str:
    return f"{group.full_interval.low:.1%}–{group.full_interval.high:.1%}"


def _mean(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


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
    "infra errors",
    "superseded",
)


def summary_cells(group: GroupResult) -> list[str]:
    """The cells of one row of the human-readable table (Markdown and HTML)."""
    return [
        str(group.tests),
        _percent(group.full_rate),
        _interval(group),
        _percent(group.partial_rate),
        _percent(group.failure_rate),
        f"{group.weighted_success:.3f}",
        _mean(group.mean_workflow_score),
        _mean(group.mean_turns),
        _top_errors(group),
        str(group.infra_errors),
        str(group.superseded_attempts),
    ]


def report_markdown(report: Report) -> str:
    headers = [*report.by, *SUMMARY_HEADERS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for group in report.groups:
        lines.append("| " + " | ".join([*group.group, *summary_cells(group)]) + " |")
    lines.append("")
    lines.append(
        "Each test counted once (latest non-error attempt); 95 % Wilson intervals; "
        "infrastructure errors and superseded attempts are not in any rate."
    )
    return "\n".join(lines) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } .group { text-align: left; white-space: nowrap; }
td.group { font-weight: 600; } td.text { text-align: left; }
img { max-width: 100%; } p.note { color: #555; font-size: 0.85rem; }
"""


def report_html(report: Report, *, title: str = "runbench report", png: bytes | None = None) -> str:
    """One HTML file with the table and, when given, the plots embedded: it opens offline."""
    head = "".join(f'<th class="group">{html.escape(name)}</th>' for name in report.by)
    head += "".join(f"<th>{html.escape(name)}</th>" for name in SUMMARY_HEADERS)
    body = []
    for group in report.groups:
        cells = "".join(f'<td class="group">{html.escape(part)}</td>' for part in group.group)
        cells += "".join(
            f'<td class="text">{html.escape(cell)}</td>'
            if header == "top errors"
            else f"<td>{html.escape(cell)}</td>"
            for header, cell in zip(SUMMARY_HEADERS, summary_cells(group), strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    picture = ""
    if png is not None:
        encoded = base64.b64encode(png).decode("ascii")
        picture = f'<img alt="full-success rates" src="data:image/png;base64,{encoded}">'
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        "<p class='note'>Each test is counted once (its latest non-error attempt). "
        "Intervals are 95 % "
        "Wilson intervals. Infrastructure errors and superseded attempts are not in any rate.</p>"
        f"{picture}</body></html>\n"
    )
