"""The installed CLI, run as a subprocess, as users and CI scripts run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbench.storage import open_store
from tests.conftest import LEGACY_FIXTURE, run_cli


def _assert_one_line_error(result, code: int, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[INFO]")]
    assert lines[0].startswith("Error: ") and text in lines[0], result.stderr
    assert len(lines) <= 2 and all(line.startswith("Hint: ") for line in lines[1:])


@pytest.mark.parametrize("args", [["--help"], ["verify", "--help"], ["migrate", "--help"]])
def test_help_works_and_shows_examples(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 0
    assert "Usage" in result.stdout
    if args[0] != "--help":
        assert "Example" in result.stdout


def test_unknown_flag_is_a_one_line_usage_error() -> None:
    _assert_one_line_error(run_cli("verify", "--bogus"), 2, "--bogus")


def test_unknown_storage_lists_allowed_values(tmp_path: Path) -> None:
    _assert_one_line_error(
        run_cli("verify", "--storage", "xml", "--store", str(tmp_path)), 2, "json, parquet"
    )
    result = run_cli("verify", "--store", str(tmp_path), env={"STORAGE_FORMAT": "feather"})
    _assert_one_line_error(result, 2, "STORAGE_FORMAT")


def test_store_path_that_is_a_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "results"
    path.write_text("precious")
    _assert_one_line_error(
        run_cli("migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(path)), 2, "is a file"
    )
    assert path.read_text() == "precious"


def test_corrupt_line_makes_verify_exit_1_naming_the_line(tmp_path: Path, records) -> None:  # type: ignore[no-untyped-def]
    store = open_store(tmp_path, "json")
    store.append(records[:3])
    with open(tmp_path / "json" / "records.jsonl", "ab") as handle:
        handle.write(b"garbage\n")
    store.append(records[3:5])
    result = run_cli("verify", "--store", str(tmp_path))
    assert result.returncode == 1
    assert "corrupt_line" in result.stdout and "records.jsonl:4" in result.stdout
    assert f"[INFO] storage: json ({tmp_path / 'json'})" in result.stderr


def test_truncated_parquet_part_makes_verify_exit_1(tmp_path: Path, records) -> None:  # type: ignore[no-untyped-def]
    store = open_store(tmp_path, "parquet")
    store.append(records)
    store.close()
    part = next((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    part.write_bytes(part.read_bytes()[:100])
    result = run_cli("verify", "--store", str(tmp_path), env={"STORAGE_FORMAT": "parquet"})
    assert result.returncode == 1
    assert "unreadable_part" in result.stdout
    assert run_cli("verify", "--store", str(tmp_path), "--storage", "json").returncode == 2


def test_legacy_file_that_is_not_json_creates_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "master_database.json"
    bad.write_text("<html>")
    store = tmp_path / "store"
    _assert_one_line_error(
        run_cli("migrate", "--legacy", str(bad), "--store", str(store)), 2, "not readable JSON"
    )
    assert not store.exists()


def test_migrate_prints_what_it_did_and_second_run_is_a_no_op(tmp_path: Path, records) -> None:  # type: ignore[no-untyped-def]
    open_store(tmp_path, "json").append(records)
    first = run_cli("migrate", "--store", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "copied 300" in first.stdout and "verified 300 rows" in first.stdout
    second = run_cli("migrate", "--store", str(tmp_path))
    assert "300 already present" in second.stdout and "copied 0" in second.stdout
    assert run_cli("verify", "--store", str(tmp_path), "--storage", "parquet").returncode == 0


def test_legacy_import_prints_a_table_per_model(tmp_path: Path) -> None:
    result = run_cli(
        "migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(tmp_path), "--storage", "parquet"
    )
    assert result.returncode == 0, result.stderr
    assert "model-a" in result.stdout and "26" in result.stdout
    assert "model-b/baseline/1.0/easy/unknown" in result.stdout


def test_report_counts_each_test_once_and_keeps_legacy_apart(tmp_path: Path, records) -> None:  # type: ignore[no-untyped-def]
    import json

    open_store(tmp_path, "json").append(records)
    run_cli("migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(tmp_path))
    result = run_cli("report", "--store", str(tmp_path), "--by", "suite", "--format", "json")
    assert result.returncode == 0, result.stderr
    groups = {row["suite"]: row for row in json.loads(result.stdout)}
    assert set(groups) == {"workflow"}
    assert groups["workflow"]["tests"] == sum(r.status != "error" for r in records)
    everything = json.loads(
        run_cli(
            "report",
            "--store",
            str(tmp_path),
            "--by",
            "suite",
            "--suite",
            "all",
            "--format",
            "json",
        ).stdout
    )
    assert {row["suite"]: row["tests"] for row in everything}["legacy-v3"] == 33


@pytest.mark.parametrize("asks", [["--json"], ["--format", "json"], ["--format=json"]])
def test_report_asked_for_json_either_way_prints_its_error_as_one_json_object(
    tmp_path: Path, asks: list[str]
) -> None:
    """--json is --format json: a CI script reading stdout gets the error object with either."""
    result = run_cli("report", *asks, "--store", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"] == f"no json store at {tmp_path / 'missing'}/json"
    assert result.stderr.splitlines()[0].startswith("Error: no json store at")
