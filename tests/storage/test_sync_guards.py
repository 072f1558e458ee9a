"""Durability that a kill -9 cannot see: the page cache outlives the process, so a missing
fsync passes every kill test. These tests spy on the sync calls instead: an append returns only
after the file that holds its rows was synced at (at least) the size that holds them, and a
failed group-commit flush fails every append of its batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.records import Record
from runbench.storage import open_store
from runbench.storage.group_commit import GroupCommit
from runbench.synthetic import synthetic_records


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """(inode, size) of every descriptor passed to os.fsync or os.fdatasync."""
    calls: list[tuple[int, int]] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def spy(fd: int, real=real) -> None:  # type: ignore[no-untyped-def]
            info = os.fstat(fd)
            calls.append((info.st_ino, info.st_size))
            real(fd)

        monkeypatch.setattr(os, name, spy)
    yield calls


def _rows(count: int) -> list[Record]:
    return list(synthetic_records(count, seed=11))


def _synced_at_full_size(calls: list[tuple[int, int]], path: Path) -> bool:
    info = path.stat()
    return (info.st_ino, info.st_size) in calls or any(
        inode == info.st_ino and size >= info.st_size for inode, size in calls
    )


def test_a_json_append_returns_after_the_records_file_is_synced(
    tmp_path: Path, synced: list[tuple[int, int]]
) -> None:
    store = open_store(tmp_path, "json")
    try:
        store.append(_rows(3))
        assert _synced_at_full_size(synced, tmp_path / "json" / "records.jsonl")
        synced.clear()
        store.append(_rows(2))  # the second append syncs again, at its own size
        assert _synced_at_full_size(synced, tmp_path / "json" / "records.jsonl")
    finally:
        store.close()


def test_a_parquet_append_returns_after_its_write_ahead_segment_is_synced(
    tmp_path: Path, synced: list[tuple[int, int]]
) -> None:
    store = open_store(tmp_path, "parquet")
    try:
        store.append(_rows(3))
        segments = sorted((tmp_path / "parquet").rglob("seg-*.jsonl"))
        assert len(segments) == 1, segments
        assert _synced_at_full_size(synced, segments[0])
        synced.clear()
        store.append(_rows(2))
        assert _synced_at_full_size(synced, segments[0])
    finally:
        store.close()


def test_a_failed_flush_fails_every_append_of_its_batch() -> None:
    """The leader's flush carries the followers' rows: if it fails, none of them may return."""
    leader_in_flush = threading.Event()
    followers_queued = threading.Event()
    batches: list[bytes] = []

    def flush(payload: bytes) -> None:
        batches.append(payload)
        if len(batches) == 1:  # the first leader holds the sink while the others queue up
            leader_in_flush.set()
            assert followers_queued.wait(10)
            return
        raise OSError(28, "No space left on device")

    committer = GroupCommit(flush)
    outcomes: dict[str, BaseException | None] = {}

    def append(name: str) -> None:
        try:
            committer.commit(name.encode() + b"\n")
            outcomes[name] = None
        except OSError as error:
            outcomes[name] = error

    first = threading.Thread(target=append, args=("first",))
    first.start()
    assert leader_in_flush.wait(10)
    followers = [threading.Thread(target=append, args=(f"f{i}",)) for i in range(4)]
    for thread in followers:
        thread.start()
    # every follower is waiting in commit() once the condition's queue holds all four
    while len(committer._queue) < 4:
        threading.Event().wait(0.01)
    followers_queued.set()
    for thread in [first, *followers]:
        thread.join(10)
    assert outcomes["first"] is None
    assert len(batches) == 2, batches  # the four followers went out as one batch
    assert sorted(batches[1].split()) == [b"f0", b"f1", b"f2", b"f3"]
    for name in ("f0", "f1", "f2", "f3"):
        assert isinstance(outcomes[name], OSError), (name, outcomes)
