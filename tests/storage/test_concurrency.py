"""Many real writer processes at once, and writers killed with SIGKILL at random moments."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from runbench.storage import open_store
from runbench.storage.base import key_strings
from runbench.synthetic import synthetic_records

WRITER = Path(__file__).with_name("writer.py")


def _writer(store: Path, storage_format: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), "--store", str(store), "--format", storage_format, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stored_keys(store: Path, storage_format: str) -> list[str]:
    return key_strings(
        open_store(store, storage_format).scan(["test_id", "attempt", "run_id"])
    ).to_pylist()


def test_eight_processes_of_two_threads_lose_and_duplicate_nothing(
    tmp_path: Path, storage_format: str
) -> None:
    start_at = time.time() + 2.0
    writers = [
        _writer(
            tmp_path,
            storage_format,
            "--threads",
            "2",
            "--count",
            "500",
            "--seed",
            str(seed),
            "--start-at",
            str(start_at),
        )
        for seed in range(8)
    ]
    acknowledged: set[str] = set()
    for process in writers:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        acknowledged.update(out.split())
    keys = _stored_keys(tmp_path, storage_format)
    assert len(acknowledged) == 8000
    assert len(keys) == 8000
    assert len(set(keys)) == 8000
    assert set(keys) == acknowledged
    assert open_store(tmp_path, storage_format).verify().is_clean


def test_kill_9_never_loses_an_acknowledged_append(tmp_path: Path, storage_format: str) -> None:
    rng = random.Random(20261125)
    acknowledged: set[str] = set()
    trials = 20
    for trial in range(trials):
        process = _writer(
            tmp_path,
            storage_format,
            "--threads",
            "2",
            "--count",
            "0",
            "--max-batch",
            "40",
            "--seed",
            str(trial),
        )
        assert process.stdout is not None
        wanted = rng.randint(1, 400)
        seen: list[str] = []
        while len(seen) < wanted:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "writer exited"
            seen.append(line.strip())
        time.sleep(rng.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == -signal.SIGKILL
        acknowledged.update(seen)
        acknowledged.update(rest.split())

        # every file is readable or named by verify, and nothing acknowledged is missing
        report = open_store(tmp_path, storage_format).verify()
        assert all(
            d.kind in ("torn_line", "corrupt_line", "orphan_segment") for d in report.damage
        ), report
        keys = _stored_keys(tmp_path, storage_format)
        assert len(keys) == len(set(keys)), "a key is stored twice"
        assert acknowledged <= set(keys), f"trial {trial}: acknowledged appends were lost"

    # the next writer carries on cleanly
    follow_up = _writer(
        tmp_path, storage_format, "--threads", "1", "--count", "25", "--seed", "999"
    )
    out, err = follow_up.communicate(timeout=120)
    assert follow_up.returncode == 0, err
    acknowledged.update(out.split())
    before = _stored_keys(tmp_path, storage_format)
    assert acknowledged <= set(before)

    # compact afterwards loses nothing and leaves a clean store
    open_store(tmp_path, storage_format).compact()
    after = _stored_keys(tmp_path, storage_format)
    assert sorted(after) == sorted(before)
    assert open_store(tmp_path, storage_format).verify().is_clean


def _compactor(root: Path) -> subprocess.Popen[bytes]:
    """A process compacting ``root``; returns once it is about to start (imports done)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from runbench.storage import open_store; store = open_store(sys.argv[1], "
            "'parquet'); print('go', flush=True); store.compact()",
            str(root),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None and process.stdout.readline() == b"go\n"
    return process


def test_compact_killed_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    for seed in range(40):  # forty small parts: compaction then takes long enough to be hit
        store = open_store(tmp_path, "parquet")
        store.append(list(synthetic_records(300, seed=seed, start_instance=seed * 10**6)))
        store.close()
    expected = sorted(_stored_keys(tmp_path, "parquet"))
    # how long one compaction of this store takes here, on a copy: the kills land inside it
    shutil.copytree(tmp_path, tmp_path.parent / f"{tmp_path.name}-probe")
    probe = _compactor(tmp_path.parent / f"{tmp_path.name}-probe")
    started = time.monotonic()
    assert probe.wait(timeout=120) == 0
    took = time.monotonic() - started
    for _ in range(8):
        process = _compactor(tmp_path)
        time.sleep(rng.uniform(0.05, 0.8) * took)
        assert process.poll() is None, "the compaction ended before the kill"
        process.kill()
        process.wait(timeout=60)
        assert sorted(_stored_keys(tmp_path, "parquet")) == expected
    open_store(tmp_path, "parquet").compact()
    assert sorted(_stored_keys(tmp_path, "parquet")) == expected
    assert open_store(tmp_path, "parquet").verify().is_clean
    assert len(list((tmp_path / "parquet" / "parts").glob("part-*.parquet"))) == 1


def test_compact_while_writers_append_loses_and_doubles_nothing(
    tmp_path: Path, storage_format: str
) -> None:
    writers = [
        _writer(
            tmp_path,
            storage_format,
            "--threads",
            "2",
            "--count",
            "400",
            "--max-batch",
            "5",
            "--seed",
            str(seed),
        )
        for seed in range(4)
    ]
    compactions = 0
    while any(writer.poll() is None for writer in writers):
        open_store(tmp_path, storage_format).compact()
        compactions += 1
    acknowledged: set[str] = set()
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        acknowledged.update(out.split())
    open_store(tmp_path, storage_format).compact()
    keys = _stored_keys(tmp_path, storage_format)
    assert compactions >= 2
    assert len(keys) == len(set(keys)) == len(acknowledged)
    assert set(keys) == acknowledged
    assert open_store(tmp_path, storage_format).verify().is_clean
