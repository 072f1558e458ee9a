"""The viewer in a real headless Chromium: what a user clicks, and a run writing meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.viewer.conftest import Viewer

TIMEOUT_MS = 60_000  # an upper bound for slow shared machines, never a measured duration
_PLOT_DRAWN = (
    "() => { const i = document.querySelector('#plot img');"
    " return i && i.complete && i.naturalWidth > 0; }"
)


def _result_models(page: Any) -> list[str]:
    return page.locator("#results tbody tr td:first-child").all_inner_texts()


def test_page_loads_with_results_errors_and_intervals(page: Any, shared_viewer: Viewer) -> None:
    from playwright.sync_api import expect

    page.goto(shared_viewer.url)
    expect(page.locator("h1")).to_have_text("runbench view")
    assert set(_result_models(page)) == {"sim-strong", "sim-weak"}
    header = page.locator("#results thead").inner_text()
    assert "95 % CI" in header
    interval = page.locator("#results tbody tr").first.locator("td").nth(4).inner_text()
    assert interval.endswith("%") and "–" in interval
    errors = page.locator("#error-groups tbody tr")
    expect(errors).to_have_count(2)
    assert "sim/sim-weak-2" in errors.first.inner_text()
    assert "HTTP 503 after 6 attempts" in errors.first.inner_text()
    expect(page.locator("#plot img")).to_be_visible()
    page.wait_for_function(_PLOT_DRAWN, timeout=TIMEOUT_MS)


def test_filters_change_the_table(page: Any, shared_viewer: Viewer) -> None:
    from playwright.sync_api import expect

    page.goto(shared_viewer.url)
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(4)  # 2 models × 2 prompt types
    page.select_option("#filter-model", "sim-weak")
    expect(rows).to_have_count(2)
    assert set(_result_models(page)) == {"sim-weak"}
    assert "model=sim-weak" in page.url
    page.select_option("#filter-prompt_type", "baseline")
    expect(rows).to_have_count(1)
    page.select_option("#filter-by", "model,difficulty")
    expect(page.locator("#results thead")).to_contain_text("difficulty")
    page.select_option("#filter-model", "")
    page.select_option("#filter-prompt_type", "")
    expect(rows).to_have_count(2)  # 2 models × 1 difficulty


def test_a_transcript_opens_from_the_tests_list(page: Any, shared_viewer: Viewer) -> None:
    from playwright.sync_api import expect

    page.goto(shared_viewer.url)
    saved = page.locator("#tests-table tbody tr", has_text="saved").first
    saved.locator("a.test-link").click()
    expect(page.locator("#transcript .message").first).to_be_visible()
    roles = page.locator("#transcript .message .role").all_inner_texts()
    assert "assistant" in roles
    expect(page.locator("#attempts tbody tr")).to_have_count(1)
    assert "✓" in page.locator("#attempts tbody tr").inner_text()


def test_results_table_sorts_on_header_click(page: Any, shared_viewer: Viewer) -> None:
    page.goto(shared_viewer.url)
    page.locator("#results thead th", has_text="full").first.click()
    first = [float(v) for v in _sort_values(page)]
    assert first == sorted(first)
    page.locator("#results thead th", has_text="full").first.click()
    second = [float(v) for v in _sort_values(page)]
    assert second == sorted(second, reverse=True)


def _sort_values(page: Any) -> list[str]:
    column = 3  # model, prompt_type, tests, full
    return [
        row.locator("td").nth(column).get_attribute("data-sort")
        for row in page.locator("#results tbody tr").all()
    ]


def test_a_run_writing_while_the_page_is_open_shows_up(
    page: Any, fresh_store: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    viewer = Viewer(fresh_store)
    try:
        page.goto(viewer.url)
        assert "sim-oracle" not in _result_models(page)
        result = run_cli(
            "smart-batch",
            "--model",
            "sim-oracle",
            "--prompt-types",
            "optimal",
            "--num-instances",
            "2",
            "--store",
            str(fresh_store),
            "--quiet",
        )
        assert result.returncode == 0, result.stderr
        expect(page.locator("#results")).to_contain_text("sim-oracle", timeout=TIMEOUT_MS)
        expect(page.locator("#filter-model option", has_text="sim-oracle")).to_have_count(1)
        page.wait_for_function(_PLOT_DRAWN, timeout=TIMEOUT_MS)
        page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    finally:
        viewer.close()
