"""The viewer over an ``s3://`` store: one read, then only what other machines uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runbench.storage import open_store
from runbench.storage.object_store import ObjectParquetStore
from runbench.synthetic import synthetic_records
from runbench.viewer.app import create_app
from tests.objectstore.conftest import S3


def _upload(s3: S3, cache: Path, seed: int, count: int, run: str) -> list[str]:
    """``count`` rows appended and uploaded by another machine; their test ids."""
    other = open_store("", "parquet", remote=s3.settings(cache))
    records = list(synthetic_records(count, seed=seed, run_id=run, start_instance=seed * 1000))
    other.append(records)
    other.close()
    return [record.test_id for record in records]


def test_polls_read_only_the_new_parts_and_revoked_rows_are_dropped(
    s3: S3,
    tmp_path: Path,
    scans: list[int],
    since_reads: list[tuple[bool, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _upload(s3, tmp_path / "machine-1", 1, 50, "run-a")
    store = open_store("", "parquet", remote=s3.settings(tmp_path / "viewer"))
    assert isinstance(store, ObjectParquetStore)
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    assert client.get("/api/state").json()["rows"] == 50
    assert client.get("/api/state", params={"model": "sim-weak"}).json()["rows"] < 50
    assert since_reads == [(True, 50)] and scans[0] == 0, "one read, no scan of the bucket"

    ids = _upload(s3, tmp_path / "machine-2", 2, 10, "run-b")
    state = client.get("/api/state").json()
    assert state["rows"] == 60
    assert since_reads[1:] == [(False, 10)], "the poll read only the new part"

    # another machine takes over a test of run-b: its row is revoked, and hidden from then on
    hidden = f"{ids[0]}|1|run-b"
    monkeypatch.setattr(ObjectParquetStore, "revoked_keys", lambda self: frozenset({hidden}))
    _upload(s3, tmp_path / "machine-3", 3, 5, "run-c")
    state = client.get("/api/state").json()
    assert state["rows"] == 64 and since_reads[2:] == [(True, 65)], "read again, one row hidden"
    assert store.scan(["test_id"]).num_rows == 65  # the real book revokes nothing
    _upload(s3, tmp_path / "machine-4", 4, 3, "run-d")
    assert client.get("/api/state").json()["rows"] == 67
    assert since_reads[3:] == [(False, 3)], "a revocation seen before does not read again"
    store.close()
