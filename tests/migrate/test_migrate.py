from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from runbench.errors import LegacyFormatError
from runbench.migrate import import_legacy, migrate_store, read_legacy
from runbench.records import Record, table_to_records
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.conftest import LEGACY_FIXTURE


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.test_id, r.attempt, r.run_id))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_to_parquet_to_json_returns_identical_records(
    tmp_path: Path, records: list[Record]
) -> None:
    source = open_store(tmp_path / "a", "json")
    source.append(records)
    source_file = tmp_path / "a" / "json" / "records.jsonl"
    before = _digest(source_file)
    parquet = open_store(tmp_path / "a", "parquet")
    report = migrate_store(source, parquet)
    assert (report.copied, report.verified_rows, report.source_rows) == (300, 300, 300)
    back = open_store(tmp_path / "b", "json")
    migrate_store(parquet, back)
    assert _sorted(table_to_records(back.scan())) == _sorted(records)
    assert _digest(source_file) == before, "the source must be left untouched"


def test_second_migration_adds_nothing(tmp_path: Path, records: list[Record]) -> None:
    source = open_store(tmp_path, "json")
    source.append(records)
    destination = open_store(tmp_path, "parquet")
    migrate_store(source, destination)
    again = migrate_store(source, destination)
    assert (again.copied, again.already_present) == (0, 300)
    assert destination.scan().num_rows == 300


def test_migration_merges_into_a_destination_that_already_holds_rows(
    tmp_path: Path, records: list[Record]
) -> None:
    source = open_store(tmp_path, "json")
    source.append(records[:200])
    destination = open_store(tmp_path, "parquet")
    destination.append(records[100:300])
    report = migrate_store(source, destination)
    assert (report.copied, report.already_present) == (100, 100)
    assert _sorted(table_to_records(destination.scan())) == _sorted(records)


def test_dry_run_changes_nothing(tmp_path: Path, records: list[Record]) -> None:
    source = open_store(tmp_path, "json")
    source.append(records)
    destination = open_store(tmp_path, "parquet")
    report = migrate_store(source, destination, dry_run=True)
    assert (report.copied, report.to_copy) == (0, 300)
    assert destination.scan().num_rows == 0


def test_legacy_fixture_imports_the_true_test_counts(tmp_path: Path, storage_format: str) -> None:
    store = open_store(tmp_path, storage_format)
    report = import_legacy(LEGACY_FIXTURE, store)
    imported = {counts.model: counts.imported for counts in report.models}
    assert imported == {"model-a": 26, "model-b": 4, "model-c": 3}
    assert [s.path for s in report.skipped] == ["model-b/baseline/1.0/easy/unknown"]
    rows = store.scan(["model", "suite", "status", "workflow_score"]).to_pylist()
    assert len(rows) == 33
    assert {row["suite"] for row in rows} == {"legacy-v3"}
    assert {row["workflow_score"] for row in rows} == {None}


def test_doubled_leaves_are_detected_and_corrected() -> None:
    database = read_legacy(LEGACY_FIXTURE)
    corrected = {
        leaf.path: (leaf.full, leaf.partial, leaf.failed)
        for leaf in database.leaves
        if leaf.corrected
    }
    assert corrected == {
        "model-a/optimal/0.8/easy/simple_task": (6, 2, 2),
        "model-a/flawed_sequence_disorder/0.8/easy/api_integration": (0, 2, 4),
        "model-c/optimal/0.8/easy/data_pipeline": (0, 0, 3),
    }


def test_reimporting_the_same_legacy_file_adds_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    import_legacy(LEGACY_FIXTURE, store)
    again = import_legacy(LEGACY_FIXTURE, store)
    assert again.imported == 0
    assert store.scan().num_rows == 33


def test_legacy_leaf_that_fits_no_rule_is_reported_by_path(tmp_path: Path) -> None:
    document = json.loads(LEGACY_FIXTURE.read_text())
    leaf = document["models"]["model-b"]["by_prompt_type"]["baseline"]["by_tool_success_rate"][
        "0.8"
    ]
    leaf["by_difficulty"]["very_easy"]["by_task_type"]["multi_stage_pipeline"]["total"] = 7
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document))
    skipped = {item.path: item.reason for item in read_legacy(path).skipped}
    assert "fit neither" in skipped["model-b/baseline/0.8/very_easy/multi_stage_pipeline"]


def test_a_legacy_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{ not json")
    with pytest.raises(LegacyFormatError, match="not readable JSON"):
        read_legacy(path)


def test_migrating_many_batches_streams_and_verifies(tmp_path: Path) -> None:
    source = open_store(tmp_path, "parquet")
    many = list(synthetic_records(5000, seed=9))
    for start in range(0, 5000, 1000):
        source.append_table(
            __import__("runbench.records", fromlist=["records_to_table"]).records_to_table(
                many[start : start + 1000]
            )
        )
    destination = open_store(tmp_path, "json")
    report = migrate_store(source, destination)
    assert report.verified_rows == 5000
    assert destination.scan().num_rows == 5000


def test_a_destination_row_that_differs_from_the_source_fails_verification(
    tmp_path: Path, records: list[Record]
) -> None:
    import dataclasses

    from runbench.errors import MigrationError

    source = open_store(tmp_path, "json")
    source.append(records)
    destination = open_store(tmp_path, "parquet")
    changed = dataclasses.replace(records[5], execution_time=(records[5].execution_time or 0) + 1.0)
    destination.append([changed])
    with pytest.raises(MigrationError, match=r"1 source rows are missing .* or differ"):
        migrate_store(source, destination)
