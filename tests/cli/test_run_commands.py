"""The runner commands' words: the dry run, the nothing-to-do line, the JSON summary's shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Outcome

PLAN = ("--model", "sim-strong", "--task-types", "simple_task,basic_task", "--num-instances", "3")


def test_dry_run_counts_cells_and_tests_and_runs_nothing(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    result = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--dry-run")
    assert result.code == 0, result.stderr
    assert result.lines[0] == "2 cells, 6 tests planned, 0 done, 6 to run: about 30 requests, 0 s"
    assert "estimate" in result.lines[1] and "sim-strong" in result.stdout
    assert not (tmp_path / "json" / "records.jsonl").exists()


def test_json_summary_counts_add_up_and_a_rerun_has_nothing_to_do(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    first = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--json")
    assert first.code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["planned"] == summary["to_run"] == 6
    assert summary["finished"] + summary["errors"] + summary["not_run"] == 6
    assert summary["full_success"] + summary["partial_success"] + summary["failure"] == 6
    again = invoke("smart-batch", *PLAN, "--store", str(tmp_path))
    assert again.code == 0
    assert again.lines == ["All 6 planned tests are done; nothing to run."]


def test_a_plan_file_and_a_phase_together_are_refused(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"models": ["sim-weak"]}')
    result = invoke("smart-batch", "--plan", str(plan), "--phase", "5.1", "--store", str(tmp_path))
    assert result.code == 2
    assert result.error_lines[0] == "Error: give --plan or --phase, not both"


def test_matrix_flags_override_a_plan_files_axes(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"models": ["sim-weak"], "task_types": ["basic_task"], "num_instances": 4}')
    result = invoke(
        "smart-batch",
        "--plan",
        str(plan),
        "--num-instances",
        "2",
        "--store",
        str(tmp_path),
        "--dry-run",
    )
    assert result.lines[0] == "1 cells, 2 tests planned, 0 done, 2 to run: about 10 requests, 0 s"


def test_plan_file_values_of_the_wrong_type_are_one_line_errors(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    cases = {
        '{"tool_success_rates": 0.8}': "'tool_success_rates' must be a list of numbers",
        '{"num_instances": "ten"}': "'num_instances' must be a whole number ≥ 0, got \"ten\"",
        '{"num_instances": 2.5}': "'num_instances' must be a whole number ≥ 0, got 2.5",
        '{"difficulties": [1]}': "'difficulties' must be a list of names or a comma-separated",
    }
    for text, message in cases.items():
        plan = tmp_path / "plan.json"
        plan.write_text(text)
        result = invoke(
            "smart-batch",
            "--model",
            "sim-weak",
            "--plan",
            str(plan),
            "--dry-run",
            "--store",
            str(tmp_path),
        )
        assert result.code == 2, text
        assert len(result.error_lines) == 1 and message in result.error_lines[0], result.stderr


def test_retry_errors_names_known_categories_only(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    result = invoke(
        *("smart-batch", *PLAN), "--retry-errors", "bogus", "--dry-run", "--store", str(tmp_path)
    )
    assert result.code == 2
    assert result.error_lines[0].startswith("Error: --retry-errors: unknown category 'bogus'")
    fine = invoke(
        *("smart-batch", *PLAN),
        "--retry-errors",
        "invalid_request,api_error",
        "--dry-run",
        "--store",
        str(tmp_path),
    )
    assert fine.code == 0, fine.stderr


def test_a_run_leaves_a_manifest_and_its_transcripts_show(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    ran = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--save-logs", "--json")
    assert ran.code == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    runs = json.loads(invoke("runs", "--store", str(tmp_path), "--json").stdout)
    assert [run["run_id"] for run in runs] == [run_id]
    manifest = runs[0]
    assert manifest["command"][:2] == ["runbench", "smart-batch"]
    assert manifest["exit_code"] == 0 and manifest["counts"]["finished"] == 6
    for field in ("version", "started_at", "ended_at", "plan_digest", "host", "storage"):
        assert manifest[field], field
    from runbench.storage import open_store

    row = open_store(tmp_path, "json").scan(["test_id", "transcript"]).to_pylist()[0]
    assert row["transcript"].startswith("json/transcripts/" + run_id)
    shown = invoke("show", row["test_id"][:10], "--store", str(tmp_path), "--json")
    assert shown.code == 0, shown.stderr
    assert json.loads(shown.stdout)["attempts"][0]["transcript"]


def test_debug_shows_each_request_and_retry_and_quiet_shows_no_progress(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    plan = ("--model", "sim-flaky", "--task-types", "simple_task", "--num-instances", "3")
    debug = run_cli("smart-batch", *plan, "--store", str(tmp_path / "a"), "--debug")
    assert debug.returncode in (0, 1), debug.stderr
    assert "[DEBUG] request sim/sim-flaky test " in debug.stderr
    assert "[DEBUG] retry 1 in " in debug.stderr, "sim-flaky answers 429/503 now and then"
    quiet = run_cli("smart-batch", *plan, "--store", str(tmp_path / "b"), "--quiet")
    assert "[progress]" not in quiet.stderr and "[DEBUG]" not in quiet.stderr


def test_the_resume_line_carries_the_settings_that_came_from_the_environment(
    tmp_path: Path,
) -> None:
    from tests.conftest import run_cli

    store = tmp_path / "from-env"
    result = run_cli(
        "smart-batch",
        *PLAN,
        "--num-instances",
        "200",
        "--max-runtime",
        "0.05",
        "--quiet",
        env={"STORAGE_FORMAT": "parquet", "RUNBENCH_STORE": str(store)},
    )
    assert result.returncode == 1, result.stderr  # stopped at the run limit: resumable
    (resume,) = [line for line in result.stderr.splitlines() if line.startswith("Resume with:")]
    assert resume.endswith(f"--storage parquet --store {store}")
    again = run_cli(*resume.removeprefix("Resume with: runbench ").split(), "--dry-run")
    assert again.returncode == 0 and f"storage: parquet ({store / 'parquet'})" in again.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--num-instances", "0"), "Error: --num-instances must be ≥ 1 (0 plans no test)"),
        (("--claim-lease", "inf"), "Error: Invalid value for '--claim-lease'"),
    ],
)
def test_a_run_that_would_plan_nothing_or_hold_tests_forever_is_refused(
    tmp_path: Path, invoke: Callable[..., Outcome], flags: tuple[str, ...], says: str
) -> None:
    store = tmp_path / "store"
    result = invoke("smart-batch", "--model", "sim-strong", *flags, "--store", str(store))
    assert result.code == 2 and result.error_lines[0].startswith(says), result.stderr
    assert not store.exists()
