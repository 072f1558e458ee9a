"""The Parquet store on S3, against moto's real S3 server on 127.0.0.1 (issue 17).

Every test opens the store through ``open_store`` as the CLI does, in a fresh bucket; a second
cache folder stands for a second machine (it shares nothing local with the first).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from runbench.errors import StoreError
from runbench.records import Record
from runbench.storage import open_store
from runbench.storage.base import key_strings
from runbench.storage.bucket import Bucket
from runbench.storage.conformance import MARKER, probe
from runbench.synthetic import synthetic_records
from tests.objectstore.conftest import S3

HERE = Path(__file__).parent
WRITER = HERE.parent / "storage" / "writer.py"
REPO = HERE.parent.parent
T = TypeVar("T")


def _keys(store: object) -> list[str]:
    return key_strings(store.scan(["test_id", "attempt", "run_id"])).to_pylist()  # type: ignore[attr-defined]


def _upload_in_parts(store: object, records: list[Record], rows: int) -> None:
    """Append ``records`` and upload them as parts of ``rows`` rows each."""
    for start in range(0, len(records), rows):
        store.append(records[start : start + rows])  # type: ignore[attr-defined]
        store._committer.exclusive(store._seal_own)  # type: ignore[attr-defined]
        store.upload_pending()  # type: ignore[attr-defined]


def _on_machine_1(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], T]], T]:
    """Run a call as if on the host ``machine-1`` (this process cannot watch its pid then)."""
    import socket

    real_host = socket.gethostname()

    def run(call: Callable[[], T]) -> T:
        monkeypatch.setattr(socket, "gethostname", lambda: "machine-1")
        try:
            return call()
        finally:
            monkeypatch.setattr(socket, "gethostname", lambda: real_host)

    return run


def _env(s3: S3, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.update(s3.env())
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def test_rows_appended_on_one_machine_are_read_on_another_once(s3: S3, tmp_path: Path) -> None:
    records = list(synthetic_records(300, seed=1))
    first = open_store("", "parquet", remote=s3.settings())
    first.append(records[:200])
    assert len(_keys(first)) == 200  # visible here before upload: the local segment is read
    first.close()
    assert len(s3.keys("parquet/parts")) == 1
    second = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    second.append(records[200:])
    second.close()
    keys = _keys(second)
    assert len(keys) == 300 and len(set(keys)) == 300
    assert sorted(keys) == sorted(_keys(first))


def test_a_repeated_upload_is_refused_not_doubled(s3: S3) -> None:
    store = open_store("", "parquet", remote=s3.settings())
    store.append(list(synthetic_records(50, seed=2)))
    store._committer.exclusive(store._seal_own)  # type: ignore[attr-defined]
    pending = sorted(store.parts_dir.glob("part-*.parquet"))  # type: ignore[attr-defined]
    assert len(pending) == 1
    kept = pending[0].read_bytes()
    assert store.upload_pending() == 1  # type: ignore[attr-defined]
    pending[0].write_bytes(kept)  # as if killed between the upload and the local delete
    assert store.upload_pending() == 0  # type: ignore[attr-defined]
    assert not pending[0].exists()
    assert len(s3.keys("parquet/parts")) == 1
    assert len(_keys(store)) == 50


def test_a_part_uploaded_again_after_compaction_is_not_counted_twice(s3: S3) -> None:
    store = open_store("", "parquet", remote=s3.settings())
    records = list(synthetic_records(90, seed=3))
    uploaded: list[tuple[str, bytes]] = []
    for start in range(0, 90, 30):
        store.append(records[start : start + 30])
        store._committer.exclusive(store._seal_own)  # type: ignore[attr-defined]
        pending = next(store.parts_dir.glob("part-*.parquet"))  # type: ignore[attr-defined]
        uploaded.append((pending.name, pending.read_bytes()))
        store.upload_pending()  # type: ignore[attr-defined]
    first_name, kept = uploaded[0]
    store.compact()
    store.compact()  # the second removes the parts the first superseded
    assert len(s3.keys("parquet/parts")) == 1
    (store.parts_dir / first_name).write_bytes(kept)  # type: ignore[attr-defined]
    store.upload_pending()  # type: ignore[attr-defined]
    assert len(s3.keys("parquet/parts")) == 2  # it was gone, so the create succeeded
    keys = _keys(store)
    assert len(keys) == 90 and len(set(keys)) == 90


def test_writer_processes_killed_with_sigkill_lose_and_double_nothing(s3: S3) -> None:
    """Writers append and are killed; the next command on the machine uploads what they left."""
    env = _env(s3, RUNBENCH_UPLOAD_ROWS="40")
    start_at = time.time() + 3.0
    writers = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "--store", s3.url, "--format", "parquet",
             "--threads", "2", "--count", "0" if seed < 2 else "150", "--seed", str(seed),
             "--start-at", str(start_at)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for seed in range(4)
    ]  # fmt: skip
    acknowledged: set[str] = set()
    readers: list[threading.Thread] = []
    outputs: dict[int, str] = {}

    def drain(index: int, process: subprocess.Popen[str]) -> None:
        outputs[index] = process.stdout.read() if process.stdout else ""

    for index, process in enumerate(writers):
        readers.append(threading.Thread(target=drain, args=(index, process)))
        readers[-1].start()
    time.sleep(6.0)
    for process in writers[:2]:  # the endless writers die mid-append, uploads half done
        process.send_signal(signal.SIGKILL)
    for index, process in enumerate(writers):
        process.wait(timeout=240)
        readers[index].join()
        if index >= 2:
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
        acknowledged.update(outputs[index].split())
    assert len(acknowledged) > 600
    wal = s3.settings().cache / "parquet" / "wal"
    left = list(wal.glob("seg-*.jsonl"))
    assert left, "the killed writers left no segment: the test proves nothing"
    # the next command on this machine seals and uploads what the killed writers left (the
    # number of parts may fall meanwhile: a closing writer compacts once many have piled up)
    open_store("", "parquet", remote=s3.settings()).close()
    assert not list(wal.glob("seg-*.jsonl"))
    elsewhere = open_store("", "parquet", remote=s3.settings(s3.cache.parent / "machine-2"))
    keys = _keys(elsewhere)
    assert len(keys) == len(set(keys)), "a row was stored twice"
    assert acknowledged <= set(keys), f"{len(acknowledged - set(keys))} acknowledged rows lost"


def test_a_paused_claimer_loses_its_lease_and_its_result_is_not_stored(
    s3: S3, tmp_path: Path
) -> None:
    """A holder on another machine stops; its tests are taken over by beat, never by clock.

    Its early results were accepted while it held the claims but uploaded only after the
    takeover: they reach the bucket, yet no reader counts them and compaction removes them.
    """
    ids = [f"{index:032x}" for index in range(5)]
    go = tmp_path / "go"
    claimer = subprocess.Popen(
        [sys.executable, str(HERE / "paused_claimer.py"), "--store", s3.url, "--owner",
         "run-paused", "--ids", ",".join(ids), "--early", "2", "--lease-s", "1.5",
         "--go-file", str(go), "--host", "machine-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(s3),
    )  # fmt: skip
    assert claimer.stdout is not None and claimer.stderr is not None
    line = claimer.stdout.readline()
    assert line, claimer.stderr.read()
    first = json.loads(line)
    assert first["claimed"] == dict.fromkeys(ids, 1)
    assert first["early"] == ids[:2]
    claimer.send_signal(signal.SIGSTOP)
    try:
        store = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
        assert store.claim(ids, "run-live", 30) == {}  # its beat is new to this process: live
        # Stopped, it cannot beat; this process takes over once it has seen the same beat for
        # the lease's 1.5 s on its own monotonic clock (polled: the machine's load decides how
        # many polls that takes, never the outcome).
        deadline = time.monotonic() + 60
        taken: dict[str, int] = {}
        while not taken and time.monotonic() < deadline:
            time.sleep(0.1)
            taken = store.claim(ids, "run-live", 30)
        assert taken == dict.fromkeys(ids, 2)  # taken over, with the next attempt
    finally:
        claimer.send_signal(signal.SIGCONT)
    go.touch()
    out, err = claimer.communicate(timeout=60)
    assert claimer.returncode == 0, err
    late = json.loads(out)
    assert late == {"refused": ids[2:], "renewed": []}  # it learns the loss when it renews
    raw = s3.dataset().to_table(columns=["test_id", "run_id"]).to_pylist()
    assert sorted(row["test_id"] for row in raw if row["run_id"] == "run-paused") == ids[:2]
    assert store.scan(["run_id"]).num_rows == 0  # uploaded late, revoked: not counted
    assert store.known_tests().materialized().done == set()
    assert store.claimed() == dict.fromkeys(ids, "run-live")
    template = next(iter(synthetic_records(1, seed=9)))
    results = [
        dataclasses.replace(template, test_id=test_id, attempt=2, run_id="run-live")
        for test_id in ids
    ]
    assert store.append_held(results, "run-live") == []
    assert store.claimed() == dict.fromkeys(ids, "run-live")  # held until uploaded
    store.release("run-live")
    store.close()
    assert store.claimed() == {}
    assert sorted(_keys(store)) == sorted(f"{test_id}|2|run-live" for test_id in ids)
    assert "2 row(s) of claims their run had lost" in " ".join(store.verify().notes)
    store.compact()
    assert store._object_claims.read().revoked == []  # type: ignore[attr-defined]  # applied, its owner gone: pruned
    keys = s3.dataset().to_table(columns=["test_id", "run_id"]).to_pylist()
    assert sorted((row["test_id"], row["run_id"]) for row in keys) == [
        (test_id, "run-live") for test_id in ids
    ]


def test_two_compactions_at_once_one_proceeds_and_readers_never_double(s3: S3) -> None:
    records = list(synthetic_records(400, seed=4))
    store = open_store("", "parquet", remote=s3.settings())
    _upload_in_parts(store, records, 20)
    assert len(s3.keys("parquet/parts")) == 20
    expected = sorted(_keys(store))
    start_at = time.time() + 3.0
    compactors = [
        subprocess.Popen(
            [sys.executable, str(HERE / "compactor.py"), "--store", s3.url,
             "--start-at", str(start_at)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(s3),
        )
        for _ in range(2)
    ]  # fmt: skip
    seen: list[int] = []
    reader = open_store("", "parquet", remote=s3.settings(s3.cache.parent / "reader"))
    while any(process.poll() is None for process in compactors):
        keys = _keys(reader)
        assert sorted(keys) == expected, "a reader saw a row twice or missed one"
        seen.append(len(keys))
    reports = []
    for process in compactors:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    merged = [report for report in reports if report["rows"]]
    refused = [report for report in reports if "another process is compacting" in report["notes"]]
    assert len(merged) == 1 and len(refused) == 1
    assert merged[0]["rows"] == 400
    assert sorted(_keys(reader)) == expected
    assert seen  # the reader did read while they ran


def test_the_probe_refuses_a_store_that_ignores_conditional_headers(
    careless_s3: S3, s3: S3
) -> None:
    careless = Bucket(careless_s3.settings())
    assert probe(careless) == "two creates of one key (If-None-Match: *) both succeeded"
    store = open_store("", "parquet", remote=careless_s3.settings())
    with pytest.raises(StoreError, match="does not honour conditional writes"):
        store.check_writable()
    store.append(list(synthetic_records(5, seed=6)))  # durable locally, never uploaded there
    with pytest.raises(StoreError, match="does not honour conditional writes"):
        store.close()
    assert careless_s3.keys("parquet/parts") == []
    assert probe(Bucket(s3.settings())) is None


def test_the_probe_runs_once_per_store_and_endpoint(s3: S3) -> None:
    store = open_store("", "parquet", remote=s3.settings())
    store.check_writable()
    marker = s3.settings().cache / MARKER
    assert json.loads(marker.read_text())["endpoint"] == s3.endpoint
    calls = Counter[str]()
    other = open_store("", "parquet", remote=s3.settings())
    original = other.bucket.create  # type: ignore[attr-defined]

    def counted(name: str, data: bytes) -> str | None:
        calls[name.split("/")[1]] += 1
        return original(name, data)

    other.bucket.create = counted  # type: ignore[attr-defined]
    other.check_writable()
    assert calls["probe"] == 0


def test_pyarrow_duckdb_and_polars_read_the_parts_straight_from_the_bucket(s3: S3) -> None:
    """Outside readers see each row once after compaction, through pyarrow's S3 file system.

    DuckDB's own S3 reader (the httpfs extension) is downloaded on first use, which an offline
    machine cannot do; DuckDB and Polars read the bucket through pyarrow's dataset instead.
    """
    import duckdb
    import polars as pl

    store = open_store("", "parquet", remote=s3.settings())
    records = list(synthetic_records(120, seed=7))
    _upload_in_parts(store, records, 40)
    store.compact()
    dataset = s3.dataset()
    assert dataset.to_table(columns=["test_id"]).num_rows == 120
    count = duckdb.sql("select count(distinct test_id), count(*) from dataset").fetchall()
    assert count == [(120, 120)]
    frame = pl.scan_pyarrow_dataset(dataset).select(pl.len(), pl.col("model").n_unique()).collect()
    assert frame.row(0)[0] == 120
    expected = sorted(_keys(store))
    got = duckdb.sql(
        "select test_id || '|' || attempt || '|' || run_id as k from dataset order by k"
    ).fetchall()
    assert [row[0] for row in got] == expected


def test_a_claim_reads_only_the_parts_added_since_the_last_one(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runbench.storage.parquet_since as since

    opened: list[str] = []
    original = since.open_part

    def counted(path: Path, checker: object) -> object:
        opened.append(path.name)
        return original(path, checker)  # type: ignore[arg-type]

    monkeypatch.setattr(since, "open_part", counted)
    records = list(synthetic_records(60, seed=10))
    writer = open_store("", "parquet", remote=s3.settings())
    _upload_in_parts(writer, records[:50], 10)
    claimer = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    ids = [record.test_id for record in records]

    def not_done(stored: int) -> set[str]:
        done = {record.test_id for record in records[:stored] if record.status != "error"}
        return set(ids) - done

    granted = claimer.claim(ids, "run-2", 30)
    assert set(granted) == not_done(50)  # done ones are not granted
    assert len(opened) == 5
    claimer.release("run-2")
    writer.append(records[50:55])  # another machine finishes five more
    writer.close()
    opened.clear()
    granted = claimer.claim(ids, "run-2", 30)
    assert set(granted) == not_done(55) != not_done(50)
    assert len(opened) == 1, "only the new part was read"
    opened.clear()
    assert claimer.claim(ids, "run-2", 30) == granted
    assert opened == [], "nothing new: no part read"


def test_segments_are_uploaded_every_n_rows_and_every_t_seconds(s3: S3) -> None:
    import dataclasses

    records = list(synthetic_records(60, seed=8))
    by_rows = open_store("", "parquet", remote=dataclasses.replace(s3.settings(), upload_rows=25))
    for record in records[:50]:
        by_rows.append([record])
    assert len(s3.keys("parquet/parts")) == 2  # after rows 25 and 50, before any close
    timed = dataclasses.replace(s3.settings(), upload_every_s=1.0)
    by_time = open_store("", "parquet", remote=timed)
    by_time.append(records[50:55])
    assert len(s3.keys("parquet/parts")) == 2
    time.sleep(1.1)
    by_time.append(records[55:60])  # the segment is older than T: sealed and uploaded now
    assert len(s3.keys("parquet/parts")) == 3
    keys = _keys(open_store("", "parquet", remote=s3.settings(s3.cache.parent / "other")))
    assert len(keys) == 60 and len(set(keys)) == 60


def test_a_holder_on_another_host_keeps_its_tests_while_it_beats_and_loses_them_after(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judged by the beat alone: the lease holds no expiry time for anyone's clock to misread."""
    ids = [f"{index:032x}" for index in range(3)]
    holder = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-1"))
    taker = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    as_holder = _on_machine_1(monkeypatch)
    assert as_holder(lambda: holder.claim(ids, "run-far", 0.5)) == dict.fromkeys(ids, 1)
    written = s3.client().get_object(Bucket=s3.bucket, Key="team/parquet/claims/book.json")
    lease = json.loads(written["Body"].read())["leases"]["run-far"]
    assert set(lease) == {"host", "boot", "pid", "started", "lease_s", "beat", "tests"}
    for _ in range(8):  # longer than its lease in all, and a fresh beat before every look
        assert as_holder(lambda: holder.renew("run-far")) == set(ids)
        time.sleep(0.1)
        assert taker.claim(ids, "run-near", 30) == {}
    deadline = time.monotonic() + 30
    taken: dict[str, int] = {}
    while not taken and time.monotonic() < deadline:  # it stopped beating
        time.sleep(0.05)
        taken = taker.claim(ids, "run-near", 30)
    assert taken == dict.fromkeys(ids, 2)
    assert as_holder(lambda: holder.renew("run-far")) == set()


def test_short_commands_on_one_host_add_up_their_watch_of_a_silent_holder(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command here sees the beat for less than the lease; together they see it go silent."""
    ids = [f"{index:032x}" for index in range(3)]
    holder = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-1"))
    assert _on_machine_1(monkeypatch)(lambda: holder.claim(ids, "run-lost", 0.5)) == dict.fromkeys(
        ids, 1
    )  # and its machine is lost: no beat from now on
    first = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    assert first.claim(ids, "run-short-1", 30) == {}, "a beat seen for the first time is live"
    first.close()
    time.sleep(0.6)  # longer than the lease, with no command watching
    second = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    assert second.claim(ids, "run-short-2", 30) == dict.fromkeys(ids, 2), (
        "the beat stood still since the earlier command on this host first saw it"
    )
    second.close()


def test_the_compaction_lease_of_a_silent_host_is_taken_over_only_after_its_beat_stops(
    s3: S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbench.storage.object_lease import CompactionLease

    bucket = Bucket(s3.settings())
    far, near = CompactionLease(bucket, 0.3), CompactionLease(bucket, 0.3)
    as_far = _on_machine_1(monkeypatch)
    assert as_far(far.acquire)
    for _ in range(4):  # 0.4 s in all, longer than the lease: it beats before every look
        assert as_far(far.renew)
        time.sleep(0.1)
        assert not near.acquire()
    deadline = time.monotonic() + 30
    while not near.acquire() and time.monotonic() < deadline:  # it stopped beating
        time.sleep(0.05)
    assert near.renew()
    assert not as_far(far.renew), "the silent holder learns it lost the lease"
    near.release()
    assert CompactionLease(bucket, 0.3).acquire()


def test_a_claimer_killed_on_this_machine_frees_its_tests_and_keeps_its_results(
    s3: S3, tmp_path: Path
) -> None:
    """kill -9 after two results: the next command here uploads them and frees the rest at once."""
    import socket

    ids = [f"{index:032x}" for index in range(5)]
    claimer = subprocess.Popen(
        [sys.executable, str(HERE / "paused_claimer.py"), "--store", s3.url, "--owner",
         "run-killed", "--ids", ",".join(ids), "--early", "2", "--lease-s", "600",
         "--go-file", str(tmp_path / "never"), "--host", socket.gethostname()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(s3),
    )  # fmt: skip
    assert claimer.stdout is not None and claimer.stderr is not None
    line = claimer.stdout.readline()
    assert line, claimer.stderr.read()
    assert json.loads(line)["early"] == ids[:2]
    claimer.kill()
    claimer.wait(timeout=60)
    assert s3.keys("parquet/parts") == []  # its two results were only in its local segment
    nxt = open_store("", "parquet", remote=s3.settings())  # the next command on this machine
    assert len(s3.keys("parquet/parts")) == 1
    assert nxt.claimed() == {}  # its lease left the book once its rows were uploaded
    granted = nxt.claim(ids, "run-next", 30)  # a 600 s lease, yet free now: its process is gone
    assert sorted(granted) == ids[2:]
    elsewhere = open_store("", "parquet", remote=s3.settings(tmp_path / "machine-2"))
    assert sorted(_keys(elsewhere)) == sorted(f"{test_id}|1|run-killed" for test_id in ids[:2])
