"""``Store.rows_since``: the rows a store gained after a position, never the whole store again.

Claims keep their done ids current with it, so it must miss nothing another writer appended
(through sealing and compaction too), must not re-read what only moved (a compaction's merge),
and must decode as strictly as a full read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from runbench.records import KEY_FIELDS
from runbench.storage import Store, open_store
from runbench.storage.base import Damage
from runbench.storage.parquet_since import parquet_since
from runbench.storage.parquet_store import ParquetStore
from runbench.synthetic import synthetic_records


def _keys(
    store: Store, position: object | None = None
) -> tuple[Counter[tuple[object, ...]], object]:
    """The row keys a ``rows_since`` call delivered (with repeats), and where it ended."""
    since = store.rows_since(position, list(KEY_FIELDS))
    keys: Counter[tuple[object, ...]] = Counter()
    for table in since:
        keys.update(zip(*(table.column(name).to_pylist() for name in KEY_FIELDS), strict=True))
    return keys, since.position


def _key(record: object) -> tuple[object, ...]:
    return tuple(getattr(record, name) for name in KEY_FIELDS)


def test_each_call_delivers_what_was_appended_after_the_last(
    tmp_path: Path, storage_format: str
) -> None:
    store = open_store(tmp_path, storage_format)
    assert _keys(store)[0] == Counter()
    first, second = list(synthetic_records(300, seed=1)), list(synthetic_records(200, seed=2))
    store.append(first)
    seen, position = _keys(store)
    assert seen == Counter(map(_key, first)) and sum(seen.values()) == 300
    writer = open_store(tmp_path, storage_format)  # another writer, its own segment
    writer.append(second)
    seen, position = _keys(store, position)
    assert seen == Counter(map(_key, second)), "only the new rows"
    assert _keys(store, position)[0] == Counter(), "nothing new: nothing read"


def test_a_torn_tail_waits_and_a_damaged_line_is_skipped(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    records = list(synthetic_records(20, seed=3))
    store.append(records[:10])
    _, position = _keys(store)
    path = tmp_path / "json" / "records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"not": "a record"}\n{"test_id": "half')  # a bad line, a line in progress
    seen, position = _keys(store, position)
    assert seen == Counter(), "the bad line is skipped, the unfinished one left for later"
    store.append(records[10:])  # the writer ends the torn line first
    seen, _ = _keys(store, position)
    assert seen == Counter(map(_key, records[10:]))


def test_after_compact_replaced_the_json_file_nothing_is_missed(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    records = list(synthetic_records(50, seed=4))
    store.append(records[:30])
    with open(tmp_path / "json" / "records.jsonl", "ab") as handle:
        handle.write(b"garbage\n")
    _, position = _keys(store)
    store.compact()  # a new file: the old offsets mean nothing in it
    store.append(records[30:])
    seen, _ = _keys(store, position)
    assert set(seen) == set(map(_key, records)), "read again from the start: every row is there"


def test_parquet_sealing_and_compaction_lose_nothing_and_merges_are_not_read_again(
    tmp_path: Path,
) -> None:
    store = ParquetStore(tmp_path, segment_rows=100)  # seals a part every 100 rows
    records = list(synthetic_records(450, seed=5))
    delivered: Counter[tuple[object, ...]] = Counter()
    position: object | None = None
    for start in range(0, 450, 50):  # reads between appends: mid-segment, right after a seal
        store.append(records[start : start + 50])
        seen, position = _keys(store, position)
        delivered.update(seen)
    store.close()  # seals the rest
    seen, position = _keys(store, position)
    delivered.update(seen)
    assert set(delivered) == set(map(_key, records)), "every row at least once"
    assert len(list((tmp_path / "parquet" / "parts").glob("*.parquet"))) > 1
    store.compact()
    assert len(list((tmp_path / "parquet" / "parts").glob("*.parquet"))) == 1
    assert _keys(store, position)[0] == Counter(), "a merge of parts already read is skipped"
    writer = open_store(tmp_path, "parquet")
    writer.append(records[:1])  # a row appended again by another writer (a new attempt's row)
    seen, _ = _keys(store, position)
    assert seen == Counter([_key(records[0])])


def test_a_segment_sealed_while_it_is_read_is_delivered_once(tmp_path: Path) -> None:
    """Its lines are read, then its part appears before parts are listed: one copy, as scan."""
    store = ParquetStore(tmp_path, segment_rows=10_000)
    records = list(synthetic_records(40, seed=6))
    store.append(records)
    segment_paths = store._segment_paths()
    assert segment_paths, "the rows wait in a write-ahead segment"

    def seal_then_list() -> list[Path]:
        store.close()  # the writer seals its segment into a part right after its lines were read
        return store._part_paths()

    damage: list[Damage] = []
    since = parquet_since(segment_paths, seal_then_list, store._checker, None, ["test_id"], damage)
    delivered = [test_id for table in since for test_id in table.column("test_id").to_pylist()]
    assert sorted(delivered) == sorted(record.test_id for record in records)
