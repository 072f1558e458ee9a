from __future__ import annotations

import io

from runbench.analysis.cost import ModelPrice, estimate
from runbench.analysis.error_groups import ErrorGroup
from runbench.analysis.runs import run_info
from runbench.cli.listings import error_groups_table, estimate_table, runs_table
from tests.analysis.test_runs import manifest

DEPLOYMENT = "DeepSeek-V3-0324-2"
CATEGORY = "rate_limited"


def _render(renderable: object, width: int = 80) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    return buffer.getvalue()


def test_runs_table_keeps_the_whole_command_at_80_columns() -> None:
    command = ["runbench", "smart-batch", "--model", "qwen2.5-72b-instruct", "--phase", "5.3"]
    runs = [
        run_info(
            manifest(
                "0f1e2d3c-aaaa",
                "2026-11-02T09:00:00+00:00",
                "2026-11-02T10:05:30+00:00",
                command=command,
            )
        )
    ]
    text = _render(runs_table(runs))
    assert "…" not in text
    assert "0f1e2d3c" in text and "1h05m" in text and "8/10" in text
    assert "  runbench smart-batch --model qwen2.5-72b-instruct --phase 5.3" in text


def test_errors_table_never_cuts_endpoint_or_category() -> None:
    group = ErrorGroup(
        provider="openai-compatible",
        deployment=DEPLOYMENT,
        category=CATEGORY,
        message="429 Too Many Requests after 6 attempts; Retry-After 20 s ignored? no: honoured",
        count=61,
        first_seen="2026-11-02T09:00:00+00:00",
        last_seen="2026-11-02T09:30:00+00:00",
        models=("DeepSeek-V3-0324",),
        example_test_ids=("a" * 32,),
    )
    text = _render(error_groups_table([group]))
    assert "…" not in text
    assert f"openai-compatible/{DEPLOYMENT}" in text and "61× rate_limited" in text
    assert "2026-11-02 09:00:00 – 09:30:00" in text


def test_estimate_table_shows_totals_and_what_it_rests_on() -> None:
    result = estimate({"m": 100}, None, {"m": ModelPrice(1.0, 2.0)})
    text = _render(estimate_table(result))
    assert "…" not in text and "total" in text and "$" in text and "assumed" in text
