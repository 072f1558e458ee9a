"""A lossless legacy import: mixed leaves, debris with counts, ignored entries, leaf averages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from runbench.analysis.legacy_leaves import legacy_leaf_table
from runbench.errors import LegacyFormatError
from runbench.migrate import import_legacy, read_legacy
from runbench.migrate.legacy import LegacyModelCounts
from runbench.storage import open_store
from runbench.storage.legacy_leaves import leaf_table_path
from tests.conftest import FIXTURES, run_cli

MIXED = FIXTURES / "legacy_v3_mixed_and_debris.json"


def test_the_import_table_is_exact(tmp_path: Path, storage_format: str) -> None:
    report = import_legacy(MIXED, open_store(tmp_path, storage_format))
    assert report.models == (
        LegacyModelCounts(
            model="alpha",
            imported=16,
            already_present=0,
            corrected=10,
            skipped_leaves=2,
            normal_leaves=1,
            doubled_leaves=1,
            mixed_leaves=1,
            debris_imported=0,
            debris_skipped=8,
        ),
        LegacyModelCounts(
            model="beta",
            imported=3,
            already_present=0,
            corrected=0,
            skipped_leaves=2,
            normal_leaves=1,
            doubled_leaves=0,
            mixed_leaves=0,
            debris_imported=3,
            debris_skipped=0,
        ),
    )
    assert [(item.name, item.reason) for item in report.ignored] == [
        ("created_at", "file metadata"),
        ("test_groups", "unused since V3"),
        ("summary", "file-wide totals, derived and not trusted (they include the doubling)"),
    ]
    skipped = {item.path: (item.tests, item.debris) for item in report.skipped}
    assert skipped == {
        "alpha/baseline/1.0/easy/unknown": (4, True),
        "alpha/baseline/0.8/easy/unknown": (4, True),
        "beta/optimal/0.8/easy/multi_stage_pipeline": (0, False),
        "beta/optimal/0.8/easy/simple_task": (0, False),
    }
    reasons = {item.path: item.reason for item in report.skipped}
    assert reasons["alpha/baseline/1.0/easy/unknown"].startswith(
        "debris bucket of an old default: holds 4 tests (0 full, 0 partial, 4 failed) but task "
        "type 'unknown' is not one runbench knows"
    )
    assert "fit neither" in reasons["beta/optimal/0.8/easy/multi_stage_pipeline"]
    assert reasons["beta/optimal/0.8/easy/simple_task"] == "empty leaf"


def test_every_leaf_is_read_as_its_kind_with_its_true_counts() -> None:
    leaves = {
        leaf.path: (leaf.kind, leaf.full, leaf.partial, leaf.failed, leaf.debris)
        for leaf in read_legacy(MIXED).leaves
    }
    assert leaves == {
        "alpha/optimal/0.8/easy/simple_task": ("normal", 3, 1, 2, False),
        "alpha/flawed_parameter_error/0.8/easy/basic_task": ("mixed", 2, 2, 3, False),
        "alpha/cot/0.8/medium/data_pipeline": ("doubled", 1, 0, 2, False),
        "beta/baseline/1.0/hard/api_integration": ("normal", 0, 1, 2, True),
    }


def test_rows_of_a_mixed_leaf_carry_its_statuses_and_categories(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    import_legacy(MIXED, store)
    rows = store.scan(
        ["status", "error_category", "instance"],
        filters={"task_id": "alpha/flawed_parameter_error/0.8/easy/basic_task"},
    ).to_pylist()
    rows.sort(key=lambda row: row["instance"])
    assert [(row["status"], row["error_category"]) for row in rows] == [
        ("full_success", None),
        ("full_success", None),
        ("partial_success", "timeout_errors"),
        ("partial_success", "parameter_config_errors"),
        ("failure", "parameter_config_errors"),
        ("failure", "parameter_config_errors"),
        ("failure", "parameter_config_errors"),
    ]


def test_leaf_averages_are_kept_per_leaf_and_never_spread_over_rows(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    report = import_legacy(MIXED, store)
    assert report.leaf_table == leaf_table_path(tmp_path)
    table = legacy_leaf_table(store)
    assert list(table["path"]) == sorted(leaf.path for leaf in read_legacy(MIXED).leaves)
    normal = table.set_index("path").loc["alpha/optimal/0.8/easy/simple_task"]
    assert (normal["kind"], normal["tests"], normal["full"], normal["partial"]) == (
        "normal",
        6,
        3,
        1,
    )
    assert (normal["avg_execution_time"], normal["avg_turns"], normal["avg_tool_calls"]) == (
        12.5,
        6.0,
        4.5,
    )
    assert (normal["avg_workflow_score"], normal["avg_final_score"]) == (0.71, 0.64)
    assert (normal["tests_with_assistance"], normal["assistance_rate"]) == (1, 0.1667)
    doubled = table.set_index("path").loc["alpha/cot/0.8/medium/data_pipeline"]
    assert doubled["avg_turns"] == 10.0
    assert pd.isna(doubled["avg_workflow_score"]), "an average the file lacks stays null, not 0"
    scores = store.scan(["workflow_score", "turns", "execution_time"]).to_pylist()
    assert {tuple(row.values()) for row in scores} == {(None, None, None)}
    assert list(legacy_leaf_table(store, models=["beta"])["path"]) == [
        "beta/baseline/1.0/hard/api_integration"
    ]


def test_a_dry_run_writes_no_leaf_table(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    report = import_legacy(MIXED, store, dry_run=True)
    assert report.leaf_table is None and not leaf_table_path(tmp_path).exists()
    assert report.models[0].imported == 16 and store.scan().num_rows == 0


def test_reimporting_adds_nothing_and_keeps_the_leaf_table(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    import_legacy(MIXED, store)
    first = leaf_table_path(tmp_path).read_bytes()
    again = import_legacy(MIXED, store)
    assert (again.imported, again.models[0].already_present) == (0, 16)
    assert leaf_table_path(tmp_path).read_bytes() == first
    assert store.scan().num_rows == 19


def test_two_files_share_one_leaf_table(tmp_path: Path) -> None:
    from tests.conftest import LEGACY_FIXTURE

    store = open_store(tmp_path, "json")
    import_legacy(MIXED, store)
    import_legacy(LEGACY_FIXTURE, store)
    sources = set(legacy_leaf_table(store)["source"])
    assert sources == {MIXED.name, LEGACY_FIXTURE.name}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "legacy.json"
    path.write_text(text)
    return path


def test_a_counter_beyond_the_bound_is_refused_with_the_leafs_path(tmp_path: Path) -> None:
    leaf = {"total": 10**12, "success": 10**12, "failed": 0, "full_success": 10**12}
    document = {
        "models": {
            "m": {
                "by_prompt_type": {
                    "optimal": {
                        "by_tool_success_rate": {
                            "0.8": {
                                "by_difficulty": {"easy": {"by_task_type": {"basic_task": leaf}}}
                            }
                        }
                    }
                }
            }
        }
    }
    path = _write(tmp_path, json.dumps(document))
    assert path.stat().st_size < 300
    with pytest.raises(LegacyFormatError) as caught:
        read_legacy(path)
    assert caught.value.message == (
        "legacy leaf m/optimal/0.8/easy/basic_task: counter 'total' is 1,000,000,000,000, above "
        "the limit of 1,000,000 tests per leaf"
    )


def test_a_legacy_file_nested_100000_deep_is_one_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"models":' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(LegacyFormatError, match="nested too deeply"):
        read_legacy(path)
    result = run_cli("migrate", "--legacy", str(path), "--store", str(tmp_path / "store"))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"Error: legacy database {path} is nested too deeply to be a V3 database"
    )
    assert "Traceback" not in result.stderr


def test_the_real_rule_recovers_the_tests_of_mixed_leaves_from_the_cli(tmp_path: Path) -> None:
    result = run_cli("migrate", "--legacy", str(MIXED), "--store", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {row["model"]: row["imported"] for row in summary["models"]} == {
        "alpha": 16,
        "beta": 3,
    }
    assert [item["name"] for item in summary["ignored"]] == [
        "created_at",
        "test_groups",
        "summary",
    ]


def test_a_legacy_file_above_the_size_bound_is_refused_before_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runbench.migrate.legacy as legacy

    monkeypatch.setattr(legacy, "MAX_LEGACY_FILE_BYTES", 2**20)
    assert read_legacy(MIXED).leaves
    monkeypatch.setattr(legacy, "MAX_LEGACY_FILE_BYTES", MIXED.stat().st_size - 1)
    with pytest.raises(LegacyFormatError, match="no PILOT-Bench V3 database is"):
        read_legacy(MIXED)
