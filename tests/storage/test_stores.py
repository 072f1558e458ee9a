from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from runbench.errors import RecordError, StoreError, UsageError
from runbench.records import FIELD_NAMES, Record, table_to_records
from runbench.storage import open_store


def _sorted(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.test_id, r.attempt, r.run_id))


def test_appended_records_read_back_equal(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    store.append(records[:100])
    store.append(records[100:])
    assert _sorted(table_to_records(store.scan())) == _sorted(records)
    store.close()
    reopened = open_store(tmp_path, storage_format)
    assert _sorted(table_to_records(reopened.scan())) == _sorted(records)


def test_a_bad_record_is_refused_and_nothing_of_the_call_is_written(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    bad = dataclasses.replace(records[1], status="exploded")
    with pytest.raises(RecordError, match="'status'"):
        store.append([records[0], bad])
    assert store.scan().num_rows == 0


def test_scan_selects_columns_and_filters(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    store.append(records)
    table = store.scan(
        ["test_id", "model"], filters={"model": "sim-weak", "prompt_type": ["cot", "optimal"]}
    )
    expected = {
        r.test_id for r in records if r.model == "sim-weak" and r.prompt_type in ("cot", "optimal")
    }
    assert table.column_names == ["test_id", "model"]
    assert set(table.column("test_id").to_pylist()) == expected
    with pytest.raises(UsageError, match="unknown column 'nope'"):
        store.scan(["nope"])


def test_done_ids_leave_out_tests_whose_only_rows_are_errors(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    store.append(records)
    errored_only = {r.test_id for r in records if r.status == "error"}
    assert errored_only, "the synthetic sample should contain infrastructure errors"
    assert store.done_ids() == {r.test_id for r in records} - errored_only


def test_store_path_that_is_a_file_is_a_clear_error(tmp_path: Path, storage_format: str) -> None:
    path = tmp_path / "file"
    path.write_text("keep me")
    with pytest.raises(StoreError, match="is a file"):
        open_store(path, storage_format)
    assert path.read_text() == "keep me"


def test_unknown_format_lists_the_allowed_values(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="allowed: json, parquet"):
        open_store(tmp_path, "csv")


def test_empty_store_scans_to_an_empty_table_with_the_schema(
    tmp_path: Path, storage_format: str
) -> None:
    table = open_store(tmp_path, storage_format).scan()
    assert table.num_rows == 0
    assert table.column_names == list(FIELD_NAMES)


def test_corrupt_line_in_the_middle_is_named_and_skipped_not_spread(
    tmp_path: Path, records: list[Record]
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:10])
    path = tmp_path / "json" / "records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"test_id": "broken\n')
    store.append(records[10:20])
    report = open_store(tmp_path, "json").verify()
    assert [(d.kind, d.line) for d in report.damage] == [("corrupt_line", 11)]
    assert report.rows == 20
    assert open_store(tmp_path, "json").scan().num_rows == 20
    before = path.read_bytes()
    open_store(tmp_path, "json").append(records[20:21])
    assert path.read_bytes().startswith(before), "an append must never rewrite existing bytes"


def test_writer_terminates_a_torn_last_line_before_appending(
    tmp_path: Path, records: list[Record]
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:5])
    path = tmp_path / "json" / "records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"test_id": "torn mid-wr')
    torn = open_store(tmp_path, "json").verify()
    assert [d.kind for d in torn.damage] == ["torn_line"]
    open_store(tmp_path, "json").append(records[5:8])
    report = open_store(tmp_path, "json").verify()
    assert [(d.kind, d.line) for d in report.damage] == [("corrupt_line", 6)]
    assert report.rows == 8


def test_json_compact_moves_damaged_lines_aside_byte_for_byte(
    tmp_path: Path, records: list[Record]
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:5])
    path = tmp_path / "json" / "records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b"not json at all\n")
    store.append(records[5:10])
    report = open_store(tmp_path, "json").compact()
    assert report.quarantined == 1
    assert (tmp_path / "json" / "quarantine.jsonl").read_bytes() == b"not json at all\n"
    assert open_store(tmp_path, "json").verify().is_clean
    store.append(records[10:12])  # a writer opened before compact carries on into the new file
    assert open_store(tmp_path, "json").scan().num_rows == 12


def test_truncated_parquet_part_is_named_and_skipped(tmp_path: Path, records: list[Record]) -> None:
    store = open_store(tmp_path, "parquet")
    store.append(records[:50])
    store.close()
    store.append(records[50:100])
    store.close()
    parts = sorted((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    assert len(parts) == 2
    data = parts[0].read_bytes()
    parts[0].write_bytes(data[: len(data) // 2])
    report = open_store(tmp_path, "parquet").verify()
    assert [(d.kind, d.path.name) for d in report.damage] == [("unreadable_part", parts[0].name)]
    assert open_store(tmp_path, "parquet").scan().num_rows == 50
    compacted = open_store(tmp_path, "parquet")
    compacted.compact()
    assert parts[0].exists(), "compact must never delete a damaged part"
    assert compacted.scan().num_rows == 50


def test_parquet_part_with_another_schema_is_named(tmp_path: Path, records: list[Record]) -> None:
    store = open_store(tmp_path, "parquet")
    store.append(records[:10])
    store.close()
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1]}), tmp_path / "parquet" / "parts" / "part-foreign.parquet")
    report = open_store(tmp_path, "parquet").verify()
    assert [d.kind for d in report.damage] == ["schema_mismatch"]
    assert open_store(tmp_path, "parquet").scan().num_rows == 10


def test_parquet_segment_is_readable_before_it_is_sealed(
    tmp_path: Path, records: list[Record]
) -> None:
    writer = open_store(tmp_path, "parquet")
    writer.append(records[:7])
    assert list((tmp_path / "parquet" / "wal").glob("seg-*.jsonl"))
    assert open_store(tmp_path, "parquet").scan().num_rows == 7
    assert open_store(tmp_path, "parquet").verify().is_clean, (
        "a live writer's segment is not an orphan"
    )
    writer.close()
    assert not list((tmp_path / "parquet" / "wal").glob("seg-*.jsonl"))
    assert open_store(tmp_path, "parquet").scan().num_rows == 7


def test_parquet_crash_between_seal_and_delete_shows_each_row_once(
    tmp_path: Path, records: list[Record]
) -> None:
    from runbench.storage.parquet_store import ParquetStore

    store = ParquetStore(tmp_path)
    store.append(records[:30])
    segment = next((tmp_path / "parquet" / "wal").glob("seg-*.jsonl"))
    saved = segment.read_bytes()
    store.close()  # seals the segment into a part and deletes it
    segment.write_bytes(saved)  # as if the process died after the rename, before the delete
    assert open_store(tmp_path, "parquet").scan().num_rows == 30
    report = open_store(tmp_path, "parquet").compact()
    assert report.superseded_removed == 1
    assert open_store(tmp_path, "parquet").scan().num_rows == 30


def test_parquet_crash_mid_compaction_shows_each_row_once(
    tmp_path: Path, records: list[Record]
) -> None:
    for start in range(0, 90, 30):
        store = open_store(tmp_path, "parquet")
        store.append(records[start : start + 30])
        store.close()
    parts_dir = tmp_path / "parquet" / "parts"
    saved = {path.name: path.read_bytes() for path in parts_dir.glob("part-*.parquet")}
    open_store(tmp_path, "parquet").compact()
    assert len(list(parts_dir.glob("part-*.parquet"))) == 1
    for name, data in saved.items():  # as if compaction died after the rename, before deletes
        (parts_dir / name).write_bytes(data)
    assert open_store(tmp_path, "parquet").scan().num_rows == 90
    assert open_store(tmp_path, "parquet").verify().is_clean
    open_store(tmp_path, "parquet").compact()
    assert len(list(parts_dir.glob("part-*.parquet"))) == 1
    assert _sorted(table_to_records(open_store(tmp_path, "parquet").scan())) == _sorted(
        records[:90]
    )


def test_parquet_parts_are_plain_parquet_readable_by_pandas(
    tmp_path: Path, records: list[Record]
) -> None:
    import pandas as pd

    store = open_store(tmp_path, "parquet")
    store.append(records)
    store.close()
    frame = pd.read_parquet(tmp_path / "parquet" / "parts")
    assert len(frame) == len(records)
    assert list(frame.columns) == list(FIELD_NAMES)


def test_a_closing_writer_compacts_when_small_parts_pile_up(
    tmp_path: Path, records: list[Record]
) -> None:
    from runbench.storage.parquet_store import AUTO_COMPACT_PARTS

    parts_dir = tmp_path / "parquet" / "parts"
    for index in range(AUTO_COMPACT_PARTS):
        store = open_store(tmp_path, "parquet")
        store.append(records[index : index + 1])
        store.close()
    assert len(list(parts_dir.glob("part-*.parquet"))) == AUTO_COMPACT_PARTS
    last = open_store(tmp_path, "parquet")
    last.append(records[AUTO_COMPACT_PARTS : AUTO_COMPACT_PARTS + 1])
    last.close()
    assert len(list(parts_dir.glob("part-*.parquet"))) == 1
    assert _sorted(table_to_records(open_store(tmp_path, "parquet").scan())) == _sorted(
        records[: AUTO_COMPACT_PARTS + 1]
    )


def test_text_utf8_cannot_store_is_refused_naming_the_field(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    bad = dataclasses.replace(records[1], error_message="half a pair \ud800")
    with pytest.raises(RecordError, match="'error_message'"):
        store.append([records[0], bad])
    assert store.scan().num_rows == 0


def test_a_bulk_table_with_invalid_utf8_is_refused_by_both_stores(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    import pyarrow as pa

    from runbench.records import records_to_table

    table = records_to_table(records[:3])
    good: Any = table.column("model").chunk(0)
    offsets, data = good.buffers()[1], good.buffers()[2]
    assert data is not None
    broken = pa.py_buffer(b"\xff" + data.to_pybytes()[1:])
    bad_model = pa.Array.from_buffers(pa.string(), len(good), [None, offsets, broken])
    bad = table.set_column(table.schema.get_field_index("model"), "model", bad_model)
    store = open_store(tmp_path, storage_format)
    with pytest.raises(RecordError, match="not valid Arrow data"):
        store.append_table(bad)
    assert store.scan().num_rows == 0


def test_opening_without_create_refuses_a_missing_store_and_creates_nothing(
    tmp_path: Path, storage_format: str
) -> None:
    with pytest.raises(StoreError, match=f"no {storage_format} store at"):
        open_store(tmp_path / "typo", storage_format, create=False)
    assert not (tmp_path / "typo").exists()
    open_store(tmp_path / "real", storage_format).close()
    assert open_store(tmp_path / "real", storage_format, create=False).scan().num_rows == 0
