"""migrate verifies exactly: digests from the typed record, and a difference named by field."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runbench.errors import MigrationError
from runbench.migrate import import_legacy, migrate_store
from runbench.migrate.transfer import row_hashes
from runbench.records import Record, records_to_table, table_to_records
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.conftest import LEGACY_FIXTURE, REPO

NULL_WRITER = Path(__file__).with_name("null_writer.py")
WRITER_LIMIT = 8_000  # rows per writer: ~20 s of paced writing, so migrate runs while they write


def _without_tokens(records: list[Record]) -> list[Record]:
    return [
        dataclasses.replace(record, prompt_tokens=None, completion_tokens=None)
        for record in records
    ]


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.test_id, r.attempt, r.run_id))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=12), st.integers(0, 10**6))
def test_a_rows_digest_does_not_depend_on_its_neighbours(nulls: list[bool], seed: int) -> None:
    records = list(synthetic_records(len(nulls), seed=seed))
    records = [
        dataclasses.replace(record, prompt_tokens=None, turns=None) if is_null else record
        for record, is_null in zip(records, nulls, strict=True)
    ]
    keys, digests = row_hashes(records_to_table(records))
    for index, record in enumerate(records):
        alone_keys, alone_digests = row_hashes(records_to_table([record]))
        assert (alone_keys[0], alone_digests[0]) == (keys[index], digests[index])


def test_digests_tell_every_field_apart() -> None:
    record = next(iter(synthetic_records(1, seed=3)))
    variants = [
        dataclasses.replace(record, executed_tools=("a", "b")),
        dataclasses.replace(record, executed_tools=("a\x1fb",)),
        dataclasses.replace(record, executed_tools=("ab",)),
        dataclasses.replace(record, executed_tools=()),
        dataclasses.replace(record, executed_tools=("",)),
        dataclasses.replace(record, prompt_tokens=None),
        dataclasses.replace(record, prompt_tokens=0),
        dataclasses.replace(record, error_message=""),
        dataclasses.replace(record, error_message=None),
    ]
    _, digests = row_hashes(records_to_table(variants))
    assert len(set(digests.tolist())) == len(variants)


def test_incremental_migrate_with_null_token_counts_verifies_clean(
    tmp_path: Path, storage_format: str
) -> None:
    other = "json" if storage_format == "parquet" else "parquet"
    source = open_store(tmp_path / "source", storage_format)
    destination = open_store(tmp_path / "destination", other)
    first = list(synthetic_records(200, seed=21))
    source.append(first)
    assert migrate_store(source, destination).verified_rows == 200
    second = _without_tokens(list(synthetic_records(100, seed=22)))
    source.append(second)
    report = migrate_store(source, destination)
    assert (report.copied, report.verified_rows) == (100, 300)
    again = migrate_store(source, destination)
    assert (again.copied, again.already_present, again.verified_rows) == (0, 300, 300)
    back = open_store(tmp_path / "back", storage_format)
    assert migrate_store(destination, back).verified_rows == 300
    assert _sorted(table_to_records(back.scan())) == _sorted(first + second)


def test_migrate_beside_live_writer_processes_verifies_clean(
    tmp_path: Path, storage_format: str
) -> None:
    other = "json" if storage_format == "parquet" else "parquet"
    source = open_store(tmp_path / "source", storage_format)
    destination = open_store(tmp_path / "destination", other)
    writers = [
        subprocess.Popen(
            [
                *(sys.executable, str(NULL_WRITER), "--store", str(tmp_path / "source")),
                *("--format", storage_format, "--seed", str(seed)),
                *("--limit", str(WRITER_LIMIT)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for seed in (1, 2)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "writing\n"
        rows_before_first = source.scan(["test_id"]).num_rows
        reports = []
        for _ in range(3):  # each migrate sees more rows: the writers write while it runs
            reports.append(migrate_store(source, destination))
            if not _wait_for_more_rows(source, reports[-1].source_rows, 2 * WRITER_LIMIT):
                break  # a fast machine: the writers wrote all they will before this migrate ended
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    assert all(report.verified_rows == report.source_rows for report in reports)
    # the scenario happened: the writers were still writing when the first migrate began (a JSON
    # scan follows a growing file, so what the first migrate counted may already be everything)
    assert rows_before_first < 2 * WRITER_LIMIT, "the writers had finished before migrate began"
    final = migrate_store(source, destination)
    assert final.verified_rows == final.source_rows
    rows = {(r.test_id, r.attempt, r.run_id): r for r in table_to_records(destination.scan())}
    assert len(rows) == final.source_rows
    assert {(r.test_id, r.attempt, r.run_id): r for r in table_to_records(source.scan())} == rows


def _wait_for_more_rows(store, rows: int, total: int) -> bool:  # type: ignore[no-untyped-def]
    """True once the store holds more than `rows`; False once it holds all the writers write."""
    if rows >= total:
        return False
    deadline = time.monotonic() + 30
    while store.scan(["test_id"]).num_rows <= rows:
        assert time.monotonic() < deadline, "the writers stopped writing"
        time.sleep(0.05)
    return True


def test_round_trip_after_a_legacy_import_verifies_clean(tmp_path: Path) -> None:
    json_store = open_store(tmp_path / "a", "json")
    json_store.append(_without_tokens(list(synthetic_records(50, seed=5))))
    json_store.append(list(synthetic_records(50, seed=6)))
    import_legacy(LEGACY_FIXTURE, json_store)
    parquet = open_store(tmp_path / "a", "parquet")
    forward = migrate_store(json_store, parquet)
    back = open_store(tmp_path / "b", "json")
    backward = migrate_store(parquet, back)
    assert forward.verified_rows == backward.verified_rows == json_store.scan().num_rows
    assert _sorted(table_to_records(back.scan())) == _sorted(table_to_records(json_store.scan()))
    assert migrate_store(back, parquet).copied == 0


def test_a_planted_difference_is_named_by_test_id_and_field(tmp_path: Path) -> None:
    records = list(synthetic_records(40, seed=8))
    source = open_store(tmp_path, "json")
    source.append(records)
    destination = open_store(tmp_path, "parquet")
    planted = dataclasses.replace(records[7], turns=(records[7].turns or 0) + 3)
    destination.append([planted])
    with pytest.raises(MigrationError) as caught:
        migrate_store(source, destination)
    message = caught.value.message
    assert message.startswith("verification failed: 1 source rows are missing")
    assert f"test {records[7].test_id} attempt 1" in message
    assert f"turns {records[7].turns!r} in the source, {planted.turns!r} there" in message
