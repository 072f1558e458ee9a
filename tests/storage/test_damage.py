"""Any damaged byte is named by verify, skipped by every reader, and set aside by compact."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from runbench.records import Record, encode_records
from runbench.storage import open_store, stored_tests
from tests.fakes.damage import (
    BINARY_GARBAGE,
    NUL_LINE,
    damage_column_chunk,
    insert_line,
    invalid_utf8_line,
    orphan_segment,
)


def _invalid_record_line(record: Record) -> bytes:
    """Valid JSON, but the record breaks the schema (success contradicts the status)."""
    broken = dataclasses.replace(record, success=not record.success)
    return encode_records([broken])


def _bad_lines(record: Record) -> dict[str, bytes]:
    return {
        "nul": NUL_LINE,
        "invalid_utf8": invalid_utf8_line(encode_records([record])),
        "garbage": BINARY_GARBAGE,
        "invalid_record": _invalid_record_line(record),
        "raw_control_byte": encode_records([record]).replace(b'"model":"', b'"model":"\x01', 1),
        "two_objects": encode_records([record]).rstrip(b"\n") * 2 + b"\n",
        "blank": b"\n",
    }


BAD_KINDS = [
    "nul",
    "invalid_utf8",
    "garbage",
    "invalid_record",
    "raw_control_byte",
    "two_objects",
    "blank",
]


def _ids(records: list[Record]) -> set[str]:
    return {record.test_id for record in records}


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_damaged_jsonl_line_is_named_skipped_with_one_warning_and_moved_aside(
    tmp_path: Path, records: list[Record], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:20])
    path = tmp_path / "json" / "records.jsonl"
    bad = _bad_lines(records[25])[kind]
    insert_line(path, 10, bad)
    store.append(records[20:30])

    report = open_store(tmp_path, "json").verify()
    assert [
        (item.line, item.kind in ("corrupt_line", "invalid_record")) for item in report.damage
    ] == [(11, True)]
    assert report.rows == 30
    with caplog.at_level(logging.WARNING, logger="runbench.storage"):
        table = open_store(tmp_path, "json").scan()
        done = stored_tests(open_store(tmp_path, "json")).done
    assert table.num_rows == 30
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2, "one per read"
    assert done == {r.test_id for r in records[:30] if r.status != "error"}

    compacted = open_store(tmp_path, "json").compact()
    assert compacted.quarantined == 1
    assert (tmp_path / "json" / "quarantine.jsonl").read_bytes() == bad
    assert open_store(tmp_path, "json").verify().is_clean
    assert open_store(tmp_path, "json").scan().num_rows == 30


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_damaged_segment_line_is_skipped_and_never_sealed_into_a_part(
    tmp_path: Path, records: list[Record], kind: str
) -> None:
    segment = orphan_segment(tmp_path, records[:20])
    bad = _bad_lines(records[25])[kind]
    insert_line(segment, 5, bad)
    damaged_bytes = segment.read_bytes()

    report = open_store(tmp_path, "parquet").verify()
    line_damage = [item for item in report.damage if item.kind != "orphan_segment"]
    assert [(item.path.name, item.line) for item in line_damage] == [(segment.name, 6)]
    assert open_store(tmp_path, "parquet").scan().num_rows == 20

    compacted = open_store(tmp_path, "parquet").compact()
    assert (compacted.segments_sealed, compacted.quarantined) == (1, 1)
    quarantined = tmp_path / "parquet" / "quarantine" / segment.name
    assert quarantined.read_bytes() == damaged_bytes, "moved aside byte for byte"
    after = open_store(tmp_path, "parquet")
    assert after.verify().is_clean
    assert after.scan().num_rows == 20
    assert _ids(records[:20]) == set(after.scan(["test_id"]).column("test_id").to_pylist())


def test_a_damaged_line_in_a_live_writers_segment_is_quarantined_when_it_seals(
    tmp_path: Path, records: list[Record]
) -> None:
    writer = open_store(tmp_path, "parquet")
    writer.append(records[:10])
    segment = next((tmp_path / "parquet" / "wal").glob("seg-*.jsonl"))
    with open(segment, "ab") as handle:
        handle.write(invalid_utf8_line(encode_records(records[10:11])))
    writer.append(records[11:20])
    assert open_store(tmp_path, "parquet").scan().num_rows == 19
    writer.close()
    reader = open_store(tmp_path, "parquet")
    assert reader.verify().is_clean
    assert reader.scan().num_rows == 19, "the bad line stays out of every part"
    assert len(list((tmp_path / "parquet" / "quarantine").iterdir())) == 1


def _two_parts(tmp_path: Path, records: list[Record]) -> list[Path]:
    for chunk in (records[:100], records[100:200]):
        store = open_store(tmp_path, "parquet")
        store.append(chunk)
        store.close()
    parts = sorted((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    assert len(parts) == 2
    return parts


def _tests_of_part(part: Path) -> set[str]:
    import pyarrow.parquet as pq

    return {
        str(test_id) for test_id in pq.read_table(part, columns=["test_id"])["test_id"].to_pylist()
    }


@pytest.mark.parametrize("column", ["task_id", "executed_tools", "test_id"])
def test_a_damaged_data_page_hides_the_whole_part_from_every_reader(
    tmp_path: Path, records: list[Record], column: str
) -> None:
    parts = _two_parts(tmp_path, records)
    lost = _tests_of_part(parts[0])
    kept = _tests_of_part(parts[1])
    damage_column_chunk(parts[0], column)

    store = open_store(tmp_path, "parquet")
    assert [(d.kind, d.path.name) for d in store.verify().damage] == [
        ("unreadable_part", parts[0].name)
    ]
    full = set(store.scan().column("test_id").to_pylist())
    only_ids = set(store.scan(["test_id"]).column("test_id").to_pylist())
    done = store.done_ids()
    assert full == only_ids == kept, "every reader skips the same part, whatever it selects"
    assert not done & (lost - kept), "a damaged part's tests are not done"
    assert stored_tests(store).done == done

    report = open_store(tmp_path, "parquet").compact()
    assert report.parts_after == 2
    assert parts[0].exists(), "compact leaves a damaged part where it is"
    assert not list((tmp_path / "parquet" / "parts").glob(".tmp-*")), "no temporary left"
    store.append(records[200:210])
    store.close()
    assert set(open_store(tmp_path, "parquet").scan(["test_id"]).column("test_id").to_pylist()) == (
        kept | _ids(records[200:210])
    )


def test_an_old_part_without_checksum_is_still_checked_by_a_full_read(
    tmp_path: Path, records: list[Record]
) -> None:
    parts = _two_parts(tmp_path, records)
    old_style = parts[0].with_name("part-20260101T000000000000-0123456789ab.parquet")
    parts[0].rename(old_style)
    kept = _tests_of_part(parts[1])
    assert open_store(tmp_path, "parquet").verify().is_clean, "an intact old part is fine"
    damage_column_chunk(old_style, "task_id")
    store = open_store(tmp_path, "parquet")
    assert set(store.scan(["test_id"]).column("test_id").to_pylist()) == kept
    assert store.done_ids() <= kept
    assert [d.path.name for d in store.verify().damage] == [old_style.name]
    store.compact()
    assert old_style.exists()
    assert not list((tmp_path / "parquet" / "parts").glob(".tmp-*"))
