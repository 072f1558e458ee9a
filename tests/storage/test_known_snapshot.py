"""A JSON store's known tests start from their snapshot and read only the lines after it, and
say exactly what a full read says; a snapshot of another file (after ``compact``) is ignored."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from runbench.records import Record
from runbench.storage import Store, open_store, stored_tests
from runbench.storage import stored as stored_module
from runbench.storage.known_snapshot import SNAPSHOT_FILE
from runbench.synthetic import synthetic_records
from tests.fakes.attempts import another_attempt
from tests.fakes.damage import damage_column_chunk


def _again(record: Record, attempt: int, status: str) -> Record:
    if status == "error":
        return another_attempt(record, attempt, "error", "invalid_request")
    return another_attempt(record, attempt, "failure", "other_errors")


def _positions(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Positions asked of ``rows_since`` (patched on the class: known tests hold the method)."""
    seen: list[object] = []
    original = type(store).rows_since

    def spy(self: Store, position: object, columns: Any = None) -> Any:
        seen.append(position)
        return original(self, position, columns)  # type: ignore[arg-type]

    monkeypatch.setattr(type(store), "rows_since", spy)
    return seen


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_planning_starts_from_the_snapshot_and_agrees_with_a_full_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    monkeypatch.setattr(stored_module, "SAVE_AFTER_ROWS", 100)
    rows = list(synthetic_records(400, seed=31))
    first = open_store(tmp_path, storage)
    first.append(rows[:300])
    first.known_tests()  # read 300 rows: the snapshot is written
    first.close()
    assert (tmp_path / storage / SNAPSHOT_FILE).exists()
    other = open_store(tmp_path, storage)  # another run adds rows after the snapshot
    errored = next(r for r in rows[:300] if r.status == "error")
    judged = next(r for r in rows[:300] if r.status != "error")
    other.append([*rows[300:], _again(errored, 2, "failure"), _again(judged, 2, "error")])
    if storage == "parquet":
        other.compact()  # parts merged after the snapshot: its position still holds
    other.close()

    positions = _positions(first, monkeypatch)
    later = open_store(tmp_path, storage)
    known = later.known_tests()
    assert positions and positions[0] is not None, "started from the snapshot's position"
    assert known.base is not None, "the snapshot is asked, not turned into sets"
    full = stored_tests(later)
    whole = known.materialized()
    assert (whole.done, whole.errored, whole.attempts) == (full.done, full.errored, full.attempts)
    assert whole.latest_errors == full.latest_errors
    assert known.is_done(errored.test_id) and known.next_attempt(judged.test_id) == 3
    ids = [*full.attempts, "f" * 32, "0" * 32, "not-a-test"]
    assert [(known.is_done(t), known.next_attempt(t), known.error_category_of(t)) for t in ids] == [
        (t in full.done, full.next_attempt(t), full.error_category_of(t)) for t in ids
    ]
    later.close()


def test_a_snapshot_of_a_compacted_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored_module, "SAVE_AFTER_ROWS", 100)
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(200, seed=32)))
    store.known_tests()
    with (store.path / "records.jsonl").open("ab") as handle:
        handle.write(b"{torn\n")
    store.compact()  # records.jsonl rewritten: another file than the snapshot's
    store.close()
    positions = _positions(store, monkeypatch)
    again = open_store(tmp_path, "json")
    known = again.known_tests()
    assert positions[0] is None, "read in full"
    assert known.base is None and known.materialized().done == stored_tests(again).done
    again.close()


def test_a_read_that_meets_a_damaged_part_drops_the_snapshot_so_its_tests_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored_module, "SAVE_AFTER_ROWS", 100)
    rows = list(synthetic_records(300, seed=33))
    for batch in (rows[:150], rows[150:]):  # two parts
        writer = open_store(tmp_path, "parquet")
        writer.append(batch)
        writer.close()
    store = open_store(tmp_path, "parquet")
    store.known_tests()  # the snapshot counts both parts' tests
    store.close()
    snapshot = tmp_path / "parquet" / SNAPSHOT_FILE
    assert snapshot.exists()
    part = min((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    damage_column_chunk(part, "executed_tools")  # the part now fails its checksum

    reader = open_store(tmp_path, "parquet")
    readable = reader.scan(["test_id"]).num_rows  # a report, status, verify: any full read
    assert readable < 300, "the damaged part is skipped"
    assert not snapshot.exists(), "the read that met the damage dropped the snapshot"
    planning = open_store(tmp_path, "parquet")
    known = planning.known_tests().materialized()
    assert known.done == stored_tests(planning).done, "damaged tests not done"


def _edited(table: Any, edit: str) -> Any:
    import pyarrow as pa

    if edit == "column dropped":
        return table.drop_columns(["done"])
    if edit == "ids as numbers":
        return table.set_column(0, "test_id", pa.array(range(table.num_rows)))
    if edit == "attempts as text":
        return table.set_column(1, "attempt", pa.array(["1"] * table.num_rows))
    assert edit == "metadata a list"
    return table.replace_schema_metadata({b"runbench-known-tests": b"[]"})


@pytest.mark.parametrize(
    "edit", ["column dropped", "ids as numbers", "attempts as text", "metadata a list"]
)
@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_hand_edited_snapshot_of_another_shape_is_ignored_and_done_tests_stay_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, edit: str
) -> None:
    """Ids of another type would be found nowhere (every done test run again); a missing
    column was a traceback. Either way the snapshot is derived data: read the store instead."""
    import pyarrow as pa

    monkeypatch.setattr(stored_module, "SAVE_AFTER_ROWS", 10)
    store = open_store(tmp_path, storage)
    store.append(list(synthetic_records(60, seed=33)))
    store.known_tests()
    store.close()
    path = tmp_path / storage / SNAPSHOT_FILE
    with pa.memory_map(str(path)) as handle:
        table = pa.ipc.open_file(handle).read_all()
    edited = _edited(table, edit)
    if edited.schema.metadata is None:
        edited = edited.replace_schema_metadata(table.schema.metadata)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, edited.schema) as writer:
        writer.write_table(edited)

    later = open_store(tmp_path, storage)
    known = later.known_tests()
    full = stored_tests(later)
    assert full.done and all(known.is_done(test_id) for test_id in full.done)
    assert {t: known.next_attempt(t) for t in full.attempts} == {
        t: full.next_attempt(t) for t in full.attempts
    }
    later.close()


def test_a_snapshot_of_another_file_on_the_same_inode_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inodes are reused: after two ``compact``s ``records.jsonl`` may be on the inode the
    snapshot names, with lines moved aside before its position (rewritten in place here)."""
    monkeypatch.setattr(stored_module, "SAVE_AFTER_ROWS", 20)
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(40, seed=34)))
    store.known_tests()  # the snapshot is written
    store.close()
    later = open_store(tmp_path, "json")
    later.append(  # rows of other tests after the snapshot
        [
            dataclasses.replace(record, test_id=format(7000 + index, "032x"))
            for index, record in enumerate(synthetic_records(15, seed=35))
        ]
    )
    later.close()
    path = tmp_path / "json" / "records.jsonl"
    lines = path.read_bytes().split(b"\n")[:-1]
    with open(path, "r+b") as handle:
        handle.write(b"".join(line + b"\n" for line in lines[1:]))
        handle.truncate()

    last = open_store(tmp_path, "json")
    known = last.known_tests()
    full = stored_tests(last)
    assert {t: (known.is_done(t), known.next_attempt(t)) for t in full.attempts} == {
        t: (t in full.done, full.next_attempt(t)) for t in full.attempts
    }
    last.close()
