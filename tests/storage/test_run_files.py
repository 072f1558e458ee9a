"""Transcripts and run manifests go through the store, the same way in both formats."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from runbench.errors import StoreError
from runbench.storage import open_store


def test_a_transcript_round_trips_by_the_path_a_record_holds(
    tmp_path: Path, storage_format: str
) -> None:
    store = open_store(tmp_path, storage_format)
    messages = {"messages": [{"role": "user", "content": "héllo"}], "test_id": "abc"}
    relative = store.write_transcript("run-1", "abc-1", messages)
    assert relative == f"{storage_format}/transcripts/run-1/abc-1.json"
    assert (tmp_path / relative).is_file()
    assert open_store(tmp_path, storage_format).read_transcript(relative) == messages
    raw = json.dumps([{"role": "assistant", "content": "ok"}]).encode()
    listed = store.write_transcript("run-1", "abc-2", raw)
    assert store.read_transcript(listed) == {"messages": [{"role": "assistant", "content": "ok"}]}


def test_a_transcript_saved_by_older_versions_under_the_root_is_still_read(
    tmp_path: Path, storage_format: str
) -> None:
    old = tmp_path / "transcripts" / "run-0" / "abc-1.json"
    old.parent.mkdir(parents=True)
    old.write_text('[{"role": "user", "content": "x"}]')
    store = open_store(tmp_path, storage_format)
    assert store.read_transcript("transcripts/run-0/abc-1.json")["messages"][0]["content"] == "x"


@pytest.mark.parametrize("path", ["../outside.json", "/etc/passwd", "json/../../x.json"])
def test_a_transcript_path_outside_the_store_is_refused(tmp_path: Path, path: str) -> None:
    store = open_store(tmp_path / "store", "json")
    with pytest.raises(StoreError, match="outside the store"):
        store.read_transcript(path)


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x\x00"])
def test_transcript_names_must_be_one_plain_component(tmp_path: Path, name: str) -> None:
    store = open_store(tmp_path, "json")
    with pytest.raises(ValueError, match="one path component"):
        store.write_transcript("run-1", name, {})
    with pytest.raises(ValueError, match="one path component"):
        store.write_transcript(name, "ok", {})


def test_a_missing_or_damaged_transcript_is_one_line(tmp_path: Path, storage_format: str) -> None:
    store = open_store(tmp_path, storage_format)
    with pytest.raises(StoreError, match="no transcript"):
        store.read_transcript(f"{storage_format}/transcripts/run-1/none.json")
    relative = store.write_transcript("run-1", "bad", b'{"messages": [\xff')
    with pytest.raises(StoreError, match="damaged"):
        store.read_transcript(relative)


def test_manifests_are_written_twice_and_listed_newest_first(
    tmp_path: Path, storage_format: str
) -> None:
    store = open_store(tmp_path, storage_format)
    store.write_manifest({"run_id": "old", "started_at": "2026-11-01T10:00:00+00:00"})
    store.write_manifest({"run_id": "new", "started_at": "2026-11-02T10:00:00+00:00"})
    store.write_manifest(
        {"run_id": "old", "started_at": "2026-11-01T10:00:00+00:00", "exit_code": 0}
    )
    reopened = open_store(tmp_path, storage_format)
    assert [m["run_id"] for m in reopened.manifests()] == ["new", "old"]
    assert reopened.manifest("old") == {
        "run_id": "old",
        "started_at": "2026-11-01T10:00:00+00:00",
        "exit_code": 0,
    }, "the later write wins"
    assert reopened.manifest("never") is None
    assert (tmp_path / storage_format / "runs" / "new.json").is_file()
    assert not list((tmp_path / storage_format / "runs").glob(".tmp-*"))


def test_a_damaged_manifest_is_skipped_with_a_warning(
    tmp_path: Path, storage_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path, storage_format)
    store.write_manifest({"run_id": "good"})
    (tmp_path / storage_format / "runs" / "bad.json").write_bytes(b'{"run_id": "b\x00')
    with caplog.at_level(logging.WARNING, logger="runbench.storage"):
        assert [m["run_id"] for m in store.manifests()] == ["good"]
    assert "bad.json" in caplog.text


def test_a_manifest_needs_a_run_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_id"):
        open_store(tmp_path, "json").write_manifest({"started_at": "now"})


def test_compact_clears_temporaries_of_dead_writers_only(
    tmp_path: Path, storage_format: str
) -> None:
    import os

    store = open_store(tmp_path, storage_format)
    store.write_manifest({"run_id": "r"})
    store.write_transcript("r", "t", {})
    dead = [
        tmp_path / storage_format / "runs" / ".tmp-999999-00000000-r.json",
        tmp_path / storage_format / "transcripts" / "r" / ".tmp-999999-00000000-t.json",
    ]
    live = tmp_path / storage_format / "runs" / f".tmp-{os.getpid()}-00000000-x.json"
    for path in (*dead, live):
        path.write_text("{")
    assert store.compact().temporary_removed == 2
    assert not any(path.exists() for path in dead)
    assert live.exists(), "a live writer's temporary is left alone"
