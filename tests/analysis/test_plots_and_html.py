from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runbench.analysis.plots import plot_format, report_figure, write_plot
from runbench.analysis.render import (
    Provenance,
    breakdown_fields,
    report_csv,
    report_html,
    report_markdown,
    report_rows,
)
from runbench.analysis.report import build_report
from runbench.errors import UsageError
from runbench.storage import open_store
from tests.analysis.conftest import make_record


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """m: 0 of 50 full on optimal, 2 of 3 on cot; n: only infrastructure errors on optimal."""
    opened = open_store(tmp_path / "store", "json")
    opened.append(
        [make_record("m", "failure", instance=i) for i in range(50)]
        + [make_record("m", "full_success", instance=i, prompt_type="cot") for i in range(2)]
        + [make_record("m", "failure", instance=2, prompt_type="cot")]
        + [make_record("n", "error", instance=i) for i in range(3)]
        + [make_record("n", "full_success", instance=0, prompt_type="cot", difficulty="hard")]
    )
    return opened


def _texts(figure) -> list[str]:  # type: ignore[no-untyped-def]
    return [text.get_text() for axes in figure.axes for text in axes.texts]


@pytest.mark.parametrize(
    ("name", "magic"),
    [("rates.png", b"\x89PNG\r\n\x1a\n"), ("rates.svg", b"<?xml"), ("rates.PDF", b"%PDF-")],
)
def test_plots_are_written_in_the_format_of_the_extension(
    store, tmp_path: Path, name: str, magic: bytes
) -> None:  # type: ignore[no-untyped-def]
    path = write_plot(build_report(store, ("model", "prompt_type")), tmp_path / name)
    data = path.read_bytes()
    assert data.startswith(magic), data[:20]
    if name.endswith(".svg"):
        assert b"<svg" in data[:1000]


def test_an_unknown_plot_extension_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as raised:
        plot_format("rates.jpg")
    assert ".png, .svg or .pdf" in (raised.value.hint or "")


def test_two_fields_draw_rows_by_columns_labelled_with_the_interval(store) -> None:  # type: ignore[no-untyped-def]
    figure = report_figure(build_report(store, ("model", "prompt_type")))
    heat = figure.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["m", "n"]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["cot", "optimal"]
    texts = _texts(figure)
    assert "0%\n0%–7%" in texts  # 0 of 50: the Wilson interval is 0–7.1 %, no ± 4 %
    assert not any("±" in text for text in texts)
    assert "no data" in texts  # n on optimal: only errors, never 0 %


def test_one_field_draws_bars_with_interval_labels(store) -> None:  # type: ignore[no-untyped-def]
    figure = report_figure(build_report(store, ("prompt_type",)))
    assert len(figure.axes) == 1
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["cot", "optimal"]
    assert "0%–7%" in _texts(figure)


def test_plots_follow_the_grouping_not_a_fixed_one(store) -> None:  # type: ignore[no-untyped-def]
    figure = report_figure(build_report(store, ("model", "difficulty")))
    assert figure.axes[0].get_xlabel() == "difficulty"
    with pytest.raises(ValueError, match="one or two"):
        report_figure(build_report(store, ("model", "prompt_type", "difficulty")))


def test_a_group_without_judged_tests_is_no_data_everywhere(store) -> None:  # type: ignore[no-untyped-def]
    report = build_report(store, ("model", "prompt_type"))
    empty = next(g for g in report.groups if g.group == ("n", "optimal"))
    assert empty.tests == 0 and empty.full_rate is None and empty.full_interval is None
    rows = json.loads(json.dumps(report_rows(report)))
    row = next(r for r in rows if (r["model"], r["prompt_type"]) == ("n", "optimal"))
    assert row["full_rate"] is None and row["full_low"] is None and row["weighted_success"] is None
    assert row["infra_errors"] == 3
    parsed = [
        r
        for r in csv.DictReader(io.StringIO(report_csv(report)))
        if (r["model"], r["prompt_type"]) == ("n", "optimal")
    ]
    assert parsed[0]["full_rate"] == "" and parsed[0]["share_other_errors"] == ""
    line = next(x for x in report_markdown(report).splitlines() if x.startswith("| n | optimal"))
    assert "no data" in line and "0.0%" not in line


def test_csv_numbers_are_rounded_and_json_keeps_full_precision(store) -> None:  # type: ignore[no-untyped-def]
    report = build_report(store, ("model", "prompt_type"))
    text = report_csv(report)
    numbers = [cell for row in csv.reader(io.StringIO(text)) for cell in row if "." in cell]
    assert numbers and all(len(cell.split(".")[1]) <= 4 for cell in numbers), numbers
    cot = next(r for r in report_rows(report) if r["model"] == "m" and r["prompt_type"] == "cot")
    assert cot["full_rate"] == 2 / 3


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.headings: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(dict(attrs).get("class") or "")
        self._in_heading = tag in ("h1", "h2")

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings.append(data)
            self._in_heading = False


def test_the_html_report_carries_provenance_breakdowns_and_what_is_hidden(store) -> None:  # type: ignore[no-untyped-def]
    by = ("model", "prompt_type")
    report = build_report(store, by)
    breakdowns = {heading: build_report(store, fields) for heading, fields in breakdown_fields(by)}
    provenance = Provenance(
        store="/data/results",
        storage="json",
        version="0.1.0",
        filters={"model": ["m", "n"]},
        legacy_rows_hidden=42,
    )
    page = report_html(report, provenance=provenance, breakdowns=breakdowns)
    parser = _Collector()
    parser.feed(page)
    assert parser.headings == [
        "runbench report",
        "by difficulty",
        "by task type",
        "error categories",
    ]
    assert parser.tables == ["sortable"] * 4
    for fact in ("/data/results (json)", "model=m|n", "0.1.0", "UTC", "runbench"):
        assert fact in page, fact
    assert "3 infrastructure error row(s)" in page
    assert "42 legacy imported row(s)" in page
    assert "aria-sort" in page and "addEventListener" in page  # tables sort on a click
    assert "no data" in page


def test_the_shared_html_report_is_assembled_from_the_store_in_one_call(tmp_path: Path) -> None:
    from runbench.analysis.document import shared_report_html
    from tests.conftest import LEGACY_FIXTURE, run_cli

    root = tmp_path / "s"
    store = open_store(root, "json")
    store.append(
        [
            make_record("m", "full_success", instance=0, difficulty="hard"),
            make_record("m", "failure", instance=1, task_type="data_pipeline"),
            make_record("m", "error", instance=2),
        ]
    )
    assert run_cli("migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(root)).returncode == 0
    page = shared_report_html(store, ("model",), filters={"model": "m"}, version="9.9")
    parser = _Collector()
    parser.feed(page)
    assert parser.headings == [
        "runbench report",
        "by difficulty",
        "by task type",
        "error categories",
    ]
    assert "<svg" in page and "9.9" in page and "model=m" in page
    assert "1 infrastructure error row(s)" in page
    assert "legacy imported row(s)" not in page  # the filter on model m leaves none to hide
    everything = shared_report_html(store, ("model",))
    assert "legacy imported row(s)" in everything


def test_terminal_cells_say_no_data_for_an_empty_group(store) -> None:  # type: ignore[no-untyped-def]
    from runbench.analysis.render import TERMINAL_HEADERS, terminal_cells

    report = build_report(store, ("model", "prompt_type"))
    cells = {g.group: terminal_cells(g) for g in report.groups}
    assert len(cells[("n", "optimal")]) == len(TERMINAL_HEADERS)
    assert cells[("n", "optimal")][:3] == ["0", "no data", "-"]
    assert cells[("m", "optimal")][1:3] == ["0%", "0-7"]


def test_a_drawing_counts_as_unchanged_only_while_nothing_visible_moved() -> None:
    from runbench.analysis.plots import draws_alike

    by = ("model",)
    drawn = (by, ((("a",), "55% 54%–56%", (0.5549, 0.5449, 0.5649)),))

    def moved(rate: float, labels: str = "55% 54%–56%") -> Any:
        return (by, ((("a",), labels, (rate, 0.5449, 0.5649)),))

    assert draws_alike(drawn, moved(0.5549 + 0.0009)), "less than a thousandth: same picture"
    assert not draws_alike(drawn, moved(0.5549 + 0.0011)), "a visible move redraws"
    assert not draws_alike(drawn, moved(0.5549, "56% 54%–56%")), "a changed label redraws"
    assert not draws_alike(drawn, (by, ())), "a group gone redraws"
    assert not draws_alike(drawn, (("prompt_type",), drawn[1])), "another grouping redraws"
