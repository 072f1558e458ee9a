from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runbench.analysis.plots import report_png
from runbench.analysis.render import report_csv, report_html, report_markdown, report_rows
from runbench.analysis.report import build_report
from runbench.analysis.stats import wilson_interval
from runbench.matrix import WORKFLOW_SUITE_VERSION
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.analysis.conftest import make_record
from tests.conftest import LEGACY_FIXTURE, InProcessCli


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = open_store(tmp_path, "parquet")
    opened.append(
        [
            make_record("m", "full_success", instance=0),
            make_record("m", "full_success", instance=1),
            make_record("m", "partial_success", instance=2),
            make_record("m", "failure", instance=3),
            # instance 3 is retried later and succeeds: the failure is superseded
            make_record("m", "full_success", instance=3, attempt=2, run_id="run-2", minutes=5),
            # instance 4 only ever errored: an infrastructure error, not a result
            make_record("m", "error", instance=4),
            # instance 5: a later error does not replace an earlier judged result
            make_record("m", "partial_success", instance=5),
            make_record("m", "error", instance=5, attempt=2, run_id="run-2", minutes=5),
        ]
    )
    return opened


def test_counts_rates_and_intervals_by_hand(store) -> None:  # type: ignore[no-untyped-def]
    (group,) = build_report(store, ("model",)).groups
    # tests 0,1,3 full (3 retried), 2 and 5 partial: 5 tests judged
    assert (group.tests, group.full, group.partial, group.failure) == (5, 3, 2, 0)
    assert group.full_rate == pytest.approx(0.6)
    assert group.full_interval == wilson_interval(3, 5)
    assert group.weighted_success == pytest.approx((3 + 0.5 * 2) / 5)
    assert group.error_shares == {"dependency_errors": pytest.approx(2 / 5)}
    assert (group.infra_errors, group.superseded_attempts) == (2, 1)


def test_superseded_attempts_and_infra_errors_never_change_rates(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean = open_store(tmp_path / "clean", "parquet")
    clean.append(
        [
            make_record("m", "full_success", instance=0),
            make_record("m", "full_success", instance=1),
            make_record("m", "partial_success", instance=2),
            make_record("m", "full_success", instance=3, attempt=2, run_id="run-2"),
            make_record("m", "partial_success", instance=5),
        ]
    )
    noisy = build_report(store, ("model",)).groups[0]
    quiet = build_report(clean, ("model",)).groups[0]
    for name in (
        "tests",
        "full_rate",
        "partial_rate",
        "failure_rate",
        "full_interval",
        "weighted_success",
    ):
        assert getattr(noisy, name) == getattr(quiet, name)


def test_every_output_format_parses(store) -> None:  # type: ignore[no-untyped-def]
    report = build_report(store, ("model", "prompt_type"))
    parsed_csv = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert parsed_csv[0]["model"] == "m" and parsed_csv[0]["tests"] == "5"
    rows = json.loads(json.dumps(report_rows(report)))
    assert rows[0]["full_low"] == pytest.approx(wilson_interval(3, 5).low)
    assert report_markdown(report).splitlines()[2].startswith("| m | optimal | 5 |")

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[str] = []

        def handle_data(self, data: str) -> None:
            self.cells.append(data)

    parser = Cells()
    parser.feed(report_html(report, png=report_png(report)))
    parser.close()
    assert "optimal" in parser.cells and "60.0%" in parser.cells


def test_png_is_a_real_png(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    png = report_png(build_report(store, ("model", "prompt_type")))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_legacy_rows_appear_only_when_asked_for(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(100, seed=2)))
    assert (
        cli_in_process(
            "migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(tmp_path)
        ).returncode
        == 0
    )

    def suites(*extra: str) -> set[str]:
        result = cli_in_process(
            "report", "--store", str(tmp_path), "--by", "suite", "--format", "json", *extra
        )
        assert result.returncode == 0, result.stderr
        return {row["suite"] for row in json.loads(result.stdout)}

    assert suites() == {"workflow"}
    assert suites("--suite", "legacy-v3") == {"legacy-v3"}
    assert suites("--suite", "all") == {"workflow", "legacy-v3"}


def test_report_cli_writes_html_and_png_files(
    store, tmp_path: Path, cli_in_process: InProcessCli
) -> None:  # type: ignore[no-untyped-def]
    page, picture = tmp_path / "r.html", tmp_path / "r.png"
    result = cli_in_process(
        "report",
        "--store",
        str(store.root),
        "--storage",
        "parquet",
        "--format",
        "html",
        "--output",
        str(page),
        "--plot",
        str(picture),
    )
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    assert text.startswith("<!doctype html>") and ("<svg" in text or "data:image/png" in text)
    fetched = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?https?://""", text)
    assert not fetched, "the page must open offline (namespace URIs are never fetched)"
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_report_filters_by_phase_and_flags(tmp_path: Path, cli_in_process: InProcessCli) -> None:
    store = open_store(tmp_path, "json")
    store.append(
        [
            make_record("m", "full_success", instance=0, prompt_type="flawed_tool_misuse"),
            make_record("m", "full_success", instance=0, prompt_type="optimal"),
            make_record(
                "m", "failure", instance=0, prompt_type="flawed_missing_step", difficulty="hard"
            ),
        ]
    )
    result = cli_in_process(
        "report", "--store", str(tmp_path), "--phase", "5.3", "--format", "json"
    )
    assert [row["prompt_type"] for row in json.loads(result.stdout)] == ["flawed_tool_misuse"]
    result = cli_in_process(
        "report",
        "--store",
        str(tmp_path),
        "--phase",
        "5.3",
        "--difficulty",
        "hard",
        "--format",
        "json",
    )
    assert [row["prompt_type"] for row in json.loads(result.stdout)] == ["flawed_missing_step"]
    bad = cli_in_process("report", "--store", str(tmp_path), "--prompt-types", "clever")
    assert bad.returncode == 2 and "unknown value 'clever' for --prompt-types" in bad.stderr


def test_report_can_group_by_suite_version(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    store.append(
        [
            make_record("m", "full_success", instance=0),
            make_record("m", "failure", instance=1, suite_version="custom-abc"),
        ]
    )
    groups = build_report(store, ("suite_version",)).groups
    assert [(g.group, g.tests, g.full) for g in groups] == [
        ((WORKFLOW_SUITE_VERSION,), 1, 1),
        (("custom-abc",), 1, 0),
    ]


def test_report_takes_json_as_every_other_command_does(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(40, seed=5)))
    store.close()
    formatted = cli_in_process("report", "--store", str(tmp_path), "--format", "json")
    flagged = cli_in_process("report", "--store", str(tmp_path), "--json")
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(flagged.stdout) == json.loads(formatted.stdout)
    both = cli_in_process("report", "--store", str(tmp_path), "--json", "--format", "csv")
    assert both.returncode == 2
    assert json.loads(both.stdout)["error"] == "--json and --format csv: give one of them"
