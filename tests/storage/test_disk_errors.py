"""A store that cannot be written is found before any test runs; disk full is one line, undone."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from runbench.errors import StoreError
from runbench.records import Record
from runbench.storage import Store, open_store
from runbench.storage.base import key_strings
from runbench.synthetic import synthetic_records


def _one_line(error: pytest.ExceptionInfo[StoreError]) -> str:
    message = error.value.message
    assert "\n" not in message and "Traceback" not in message
    return message


def _keys(store: Store) -> set[str]:
    return set(key_strings(store.scan(["test_id", "attempt", "run_id"])).to_pylist())


def _key(record: Record) -> str:
    return f"{record.test_id}|{record.attempt}|{record.run_id}"


def _remount_read_only(mountpoint: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)


def test_a_read_only_store_is_refused_before_anything_runs(
    tmpfs: Path, storage_format: str
) -> None:
    store = open_store(tmpfs / "store", storage_format)
    store.check_writable()
    _remount_read_only(tmpfs)
    reopened = open_store(tmpfs / "store", storage_format)
    with pytest.raises(StoreError) as error:
        reopened.check_writable()
    assert "read-only" in _one_line(error)
    assert error.value.hint and "--store" in error.value.hint


def test_a_folder_without_write_permission_is_refused(tmp_path: Path, storage_format: str) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits; the tmpfs test covers read-only")
    store = open_store(tmp_path / "store", storage_format)
    os.chmod(store.path, 0o555)
    try:
        with pytest.raises(StoreError) as error:
            store.check_writable()
        assert "permission denied" in _one_line(error)
    finally:
        os.chmod(store.path, 0o755)


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/proc/runbench-nope/store", "does not exist"),
        ("{tmp}/a-file/store", "not a directory"),
        ("{tmp}/a-file", "is a file"),
    ],
)
def test_an_impossible_store_path_is_one_line(
    tmp_path: Path, storage_format: str, path: str, words: str
) -> None:
    (tmp_path / "a-file").write_text("keep")
    with pytest.raises(StoreError) as error:
        open_store(path.format(tmp=tmp_path), storage_format)
    assert words in _one_line(error).lower()
    assert (tmp_path / "a-file").read_text() == "keep"


def test_a_store_folder_replaced_by_a_file_is_found_by_check_writable(
    tmp_path: Path, storage_format: str
) -> None:
    store = open_store(tmp_path / "store", storage_format)
    moved = tmp_path / "moved"
    store.path.rename(moved)
    store.path.write_text("not a folder")
    with pytest.raises(StoreError) as error:
        store.check_writable()
    assert "not a folder" in _one_line(error)


def test_disk_full_on_append_is_one_line_and_leaves_nothing_half_written(
    tmpfs: Path, storage_format: str
) -> None:
    filler = tmpfs / "filler"
    filler.write_bytes(b"x" * 64 * 1024)
    store = open_store(tmpfs / "store", storage_format)
    store.check_writable()
    records = synthetic_records(100_000, seed=4)
    acknowledged: set[str] = set()
    with pytest.raises(StoreError) as error:
        for _ in range(10_000):
            batch = [next(records) for _ in range(7)]
            store.append(batch)
            acknowledged |= {_key(record) for record in batch}
    assert "disk is full" in _one_line(error)
    assert acknowledged
    reader = open_store(tmpfs / "store", storage_format)
    assert not [d for d in reader.verify().damage if d.kind != "orphan_segment"]
    assert _keys(reader) == acknowledged, "every acknowledged row, and no half-written one"

    with pytest.raises(StoreError, match="disk is full"):
        store.check_writable()
    filler.unlink()
    more = [next(records) for _ in range(3)]
    store.append(more)
    store.close()
    final = open_store(tmpfs / "store", storage_format)
    final.compact()
    assert _keys(final) == acknowledged | {_key(record) for record in more}
    assert not list((tmpfs / "store").rglob(".tmp-*"))


def _fill_disk(path: Path) -> None:
    """Write to ``path`` until the file system refuses with ENOSPC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            os.write(fd, b"y" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_disk_full_while_sealing_keeps_the_rows_in_the_segment(tmpfs: Path) -> None:
    filler = tmpfs / "filler"
    filler.write_bytes(b"x" * 32 * 1024)
    store = open_store(tmpfs / "store", "parquet")
    records = list(synthetic_records(150, seed=6))
    store.append(records)  # fits as JSON lines; the part to seal them into does not
    _fill_disk(tmpfs / "filler2")
    with pytest.raises(StoreError, match="disk is full"):
        store.close()
    assert not list((tmpfs / "store").rglob(".tmp-*"))
    filler.unlink()
    (tmpfs / "filler2").unlink()
    reopened = open_store(tmpfs / "store", "parquet")
    assert _keys(reopened) == {_key(record) for record in records}
    reopened.compact()
    assert _keys(open_store(tmpfs / "store", "parquet")) == {_key(r) for r in records}
    assert not list((tmpfs / "store" / "parquet" / "wal").glob("seg-*"))


def _half_then_enospc(fd: int, data: bytes) -> None:
    os.write(fd, data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("module", ["json_store", "parquet_store"])
def test_an_injected_enospc_mid_write_is_taken_back(
    tmp_path: Path, records: list[Record], module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage_format = module.split("_")[0]
    store = open_store(tmp_path, storage_format)
    store.append(records[:10])
    monkeypatch.setattr(f"runbench.storage.{module}.write_all", _half_then_enospc)
    with pytest.raises(StoreError) as error:
        store.append(records[10:20])
    assert "disk is full" in _one_line(error)
    monkeypatch.undo()
    reader = open_store(tmp_path, storage_format)
    assert not [d for d in reader.verify().damage if d.kind != "orphan_segment"]
    assert _keys(reader) == {_key(record) for record in records[:10]}
    store.append(records[20:25])
    assert len(_keys(open_store(tmp_path, storage_format))) == 15


def test_an_injected_enospc_in_compaction_leaves_no_temporary(
    tmp_path: Path, records: list[Record], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    for start in (0, 50, 100):
        store = open_store(tmp_path, "parquet")
        store.append(records[start : start + 50])
        store.close()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(StoreError) as error:
        open_store(tmp_path, "parquet").compact()
    assert "disk is full" in _one_line(error)
    monkeypatch.undo()
    assert not list(tmp_path.rglob(".tmp-*"))
    assert len(list((tmp_path / "parquet" / "parts").glob("part-*"))) == 3
    assert _keys(open_store(tmp_path, "parquet")) == {_key(r) for r in records[:150]}


def test_disk_full_in_json_compaction_changes_nothing(tmpfs: Path) -> None:
    records = list(synthetic_records(60, seed=8))
    store = open_store(tmpfs / "store", "json")
    store.append(records[:30])
    path = tmpfs / "store" / "json" / "records.jsonl"
    with open(path, "ab") as handle:
        handle.write(b"\x00" * 30 + b"\n")
    store.append(records[30:])
    before = path.read_bytes()
    _fill_disk(tmpfs / "filler")
    with pytest.raises(StoreError) as error:
        open_store(tmpfs / "store", "json").compact()
    assert "disk is full" in _one_line(error)
    assert path.read_bytes() == before
    assert (
        not (tmpfs / "store" / "json" / "quarantine.jsonl").exists()
        or not (tmpfs / "store" / "json" / "quarantine.jsonl").read_bytes()
    )
    assert not list((tmpfs / "store").rglob(".tmp-*"))
    (tmpfs / "filler").unlink()
    assert open_store(tmpfs / "store", "json").compact().quarantined == 1
    assert _keys(open_store(tmpfs / "store", "json")) == {_key(r) for r in records}
