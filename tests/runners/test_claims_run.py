"""A test runs once, whoever runs it (issue 10, req. 1): real processes, real kill -9.

Every scenario runs the installed CLI in subprocesses on a simulated model with a little latency
(so runs overlap), then counts rows per test id in the store: each planned test has exactly one
row (a sim model never errs, so any second row would be a double run), and attempts are unique.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from runbench.matrix import build_matrix
from runbench.plan import plan_tests
from runbench.records import Record
from runbench.runners.engine import RunOptions
from runbench.runners.summary import RunSummary
from runbench.storage import open_store
from runbench.storage.locking import FileLock
from runbench.synthetic import synthetic_records
from tests.fakes.openai_server import FakeOpenAI, FakeOptions, start_fake_openai
from tests.runners.harness import Endpoint, jobs_of, run_endpoints

MODEL = "claim-sim"
PHASE = "5.1"  # five cells per instance
WAIT_S = 60.0  # an upper bound on waits for a process to reach a state, never a measurement


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "runbench.toml"
    path.write_text(f'[models.{MODEL}]\nprovider = "sim"\nprofile = "average"\nlatency_ms = 30\n')
    return path


def _env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("STORAGE_FORMAT", "RUNBENCH_STORE")
    }


def _command(
    tmp_path: Path, storage: str, instances: int, *extra: str, command: str = "smart-batch"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runbench",
        command,
        "--model",
        MODEL,
        "--phase",
        PHASE,
        "--num-instances",
        str(instances),
        "--config",
        str(_config(tmp_path)),
        "--store",
        str(tmp_path / "store"),
        "--storage",
        storage,
        "--quiet",
        "--json",
        *extra,
    ]


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )


def _planned(instances: int) -> set[str]:
    cells = build_matrix(phase_name=PHASE, num_instances=instances).cells([MODEL])
    return {test.test_id for test in plan_tests(cells, instances)}


def _rows(tmp_path: Path, storage: str) -> list[dict[str, object]]:
    table = open_store(tmp_path / "store", storage).scan(["test_id", "attempt", "status", "run_id"])
    return table.to_pylist()


def _assert_each_test_once(tmp_path: Path, storage: str, instances: int) -> list[dict[str, object]]:
    """Every planned test has exactly one row, a result: nothing ran twice, nothing is missing."""
    rows = _rows(tmp_path, storage)
    per_test = Counter(str(row["test_id"]) for row in rows)
    twice = {test_id: count for test_id, count in per_test.items() if count > 1}
    assert not twice, f"{len(twice)} tests ran more than once"
    assert set(per_test) == _planned(instances)
    assert all(row["status"] != "error" for row in rows)
    pairs = [(row["test_id"], row["attempt"]) for row in rows]
    assert len(pairs) == len(set(pairs)), "attempt numbers are unique per test"
    return rows


def _summary(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=300)
    assert process.returncode in (0, 1), err
    summary: dict[str, object] = json.loads(out)
    if "to_run" in summary:  # it ran something: its counts add up to what it set out to run
        counted = int(summary["finished"]) + int(summary["errors"]) + int(summary["not_run"])  # type: ignore[call-overload]
        assert counted == summary["to_run"]
        assert int(summary["claimed_elsewhere"]) <= int(summary["not_run"])  # type: ignore[call-overload]
    return summary


def _wait_for_rows(tmp_path: Path, storage: str, at_least: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if (tmp_path / "store" / storage).exists() and len(_rows(tmp_path, storage)) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} rows within {WAIT_S:g} s")


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (an orphan's zombie is reaped by init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in found.split()]


@pytest.mark.parametrize(("storage", "processes"), [("json", 2), ("parquet", 3)])
def test_smart_batches_of_one_plan_started_at_once_run_each_test_once(
    tmp_path: Path, storage: str, processes: int
) -> None:
    instances = 16  # 80 tests of about 150 ms each over two workers: several seconds each run
    args = _command(tmp_path, storage, instances, "--max-workers", "2")
    running = [_start(args) for _ in range(processes)]
    summaries = [_summary(process) for process in running]
    rows = _assert_each_test_once(tmp_path, storage, instances)
    finished = sum(int(summary["finished"]) for summary in summaries)  # type: ignore[call-overload]
    assert finished == len(rows) == 5 * instances, "the runs split the plan between them"
    assert len({row["run_id"] for row in rows}) > 1, "the runs overlapped and shared the work"
    skipped = sum(int(summary.get("claimed_elsewhere", 0)) for summary in summaries)  # type: ignore[call-overload]
    assert skipped > 0, "a run skipped tests another live run held or had finished"
    assert not open_store(tmp_path / "store", storage).claimed(), "every claim was released"


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_killed_runs_leases_do_not_block_the_rerun(tmp_path: Path, storage: str) -> None:
    instances = 12
    args = _command(tmp_path, storage, instances, "--max-workers", "2")
    victim = _start(args)
    _wait_for_rows(tmp_path, storage, 3)
    victim.kill()  # SIGKILL: no release, no cleanup
    victim.communicate(timeout=30)
    leases = list((tmp_path / "store" / storage / "claims").glob("lease-*.json"))
    assert leases, "the killed run left its lease behind"
    assert len(_rows(tmp_path, storage)) < 5 * instances, "killed mid-run"
    again = _start(args)
    summary = _summary(again)
    assert again.returncode == 0
    assert summary["claimed_elsewhere"] == 0, "a dead holder's lease blocked nothing"
    _assert_each_test_once(tmp_path, storage, instances)


def test_ultra_parallel_parent_killed_its_shards_stop_and_the_rerun_runs_the_rest_once(
    tmp_path: Path,
) -> None:
    storage, instances = "parquet", 16
    extra = ("--num-shards", "2", "--max-workers", "2")
    args = _command(tmp_path, storage, instances, *extra, command="ultra-parallel")
    parent = _start(args)
    shards: list[int] = []
    deadline = time.monotonic() + WAIT_S
    while len(shards) < 2 and time.monotonic() < deadline:
        shards = _children(parent.pid)
        time.sleep(0.05)
    assert len(shards) == 2, "both shards started"
    _wait_for_rows(tmp_path, storage, 3)
    parent.kill()
    parent.communicate(timeout=30)
    deadline = time.monotonic() + WAIT_S
    while any(_alive(pid) for pid in shards) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in shards), "the shards stopped when their parent died"
    assert len(_rows(tmp_path, storage)) < 5 * instances, "the parent was killed mid-run"
    again = _start(args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert json.loads(out)["errors"] == 0
    _assert_each_test_once(tmp_path, storage, instances)


def test_a_shard_and_a_plain_run_of_one_plan_never_run_a_test_twice(tmp_path: Path) -> None:
    storage, instances = "json", 16
    plain = _start(_command(tmp_path, storage, instances, "--max-workers", "2"))
    shard = _start(_command(tmp_path, storage, instances, "--max-workers", "2", "--shard", "0/2"))
    summaries = [_summary(plain), _summary(shard)]
    rows = _assert_each_test_once(tmp_path, storage, instances)
    assert sum(int(summary["finished"]) for summary in summaries) == len(rows)  # type: ignore[call-overload]


def test_two_ultra_parallels_of_one_plan_at_once_join_never_duplicate(tmp_path: Path) -> None:
    storage, instances = "parquet", 12
    extra = ("--num-shards", "2", "--max-workers", "2")
    args = _command(tmp_path, storage, instances, *extra, command="ultra-parallel")
    running = [_start(args) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in running]
    for process, (_, err) in zip(running, outputs, strict=True):
        assert process.returncode in (0, 1), err
    rows = _assert_each_test_once(tmp_path, storage, instances)
    finished = sum(int(json.loads(out)["finished"]) for out, _ in outputs)
    assert finished == len(rows), "the two runs' shards split the plan between them"


def test_the_engine_skips_what_another_live_run_holds_and_records_the_issued_attempt(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    endpoint = Endpoint(fake_openai.base_url, "claims-model", 6)
    ids = [job.test.test_id for job in jobs_of(endpoint)]
    store = open_store(tmp_path, "json")
    assert store.claim(ids[:2], "another-run", 60.0) == {ids[0]: 1, ids[1]: 1}
    # an earlier run's infrastructure error: the test is not done, and attempt 1 is taken
    assert store.claim(ids[2:3], "an-earlier-run", 60.0) == {ids[2]: 1}
    assert store.append_held([_error_record(ids[2], 1)], "an-earlier-run") == []
    store.close()
    summary = asyncio.run(run_endpoints([endpoint], RunOptions(max_workers=2), tmp_path))
    assert (summary.planned, summary.finished, summary.errors) == (6, 4, 0)
    assert summary.not_run == summary.claimed_elsewhere == 2, "skipped, counted, not an error"
    assert summary.endpoints[jobs_of(endpoint)[0].endpoint].claimed_elsewhere == 2
    rows = {(row["test_id"], row["attempt"]) for row in _store_rows(tmp_path)}
    assert rows == {(ids[2], 1), (ids[2], 2), *((test_id, 1) for test_id in ids[3:])}, (
        "the attempt the claim issued, not the planned one"
    )
    store = open_store(tmp_path, "json")
    assert store.claimed() == {ids[0]: "another-run", ids[1]: "another-run"}, "ours released"
    store.close()


def _error_record(test_id: str, attempt: int) -> Record:
    template = next(r for r in synthetic_records(300, seed=5) if r.status == "error")
    return dataclasses.replace(template, test_id=test_id, attempt=attempt)


def _take_over_everything(claims: Path, owner: str) -> set[str]:
    """Do what a run on another host does when ``owner`` fell silent: strip its tests, locked."""
    with FileLock(claims / "claims.lock"):
        for path in claims.glob("lease-*.json"):
            lease = json.loads(path.read_text())
            if lease["owner"] == owner and lease["tests"]:
                taken = set(lease["tests"])
                lease["tests"] = {}
                path.write_text(json.dumps(lease))
                return taken
    return set()


def test_a_run_that_loses_its_claims_cancels_those_jobs_queued_or_in_flight_and_stores_none(
    tmp_path: Path,
) -> None:
    fake = start_fake_openai(FakeOptions(latency_s=0.05))
    endpoint = Endpoint(fake.base_url, "fenced-model", 40)
    claims = tmp_path / "json" / "claims"
    taken: set[str] = set()

    async def scenario() -> RunSummary:
        async def thief() -> None:
            while not taken:
                await asyncio.sleep(0.02)
                if claims.is_dir():
                    taken.update(
                        await asyncio.to_thread(_take_over_everything, claims, "run-under-test")
                    )

        options = RunOptions(max_workers=4, lease_s=0.3)
        async with asyncio.TaskGroup() as group:
            group.create_task(thief())
            run = group.create_task(run_endpoints([endpoint], options, tmp_path))
        return run.result()

    try:
        summary = asyncio.run(scenario())
    finally:
        fake.close()
    stored = {str(row["test_id"]) for row in _store_rows(tmp_path)}
    assert taken, "the run's claims were taken over while it ran"
    assert not stored & taken, "no test taken over was stored by the run that lost it"
    assert summary.claimed_elsewhere >= len(taken), "each lost job was cancelled, not run"
    assert summary.finished == len(stored)
    assert summary.finished + summary.errors + summary.not_run == summary.planned == 40


def _leased(tmp_path: Path, storage: str) -> dict[str, set[str]]:
    """Tests per owner in the lease files, read without the lock (files are replaced whole)."""
    leases: dict[str, set[str]] = {}
    for path in (tmp_path / "store" / storage / "claims").glob("lease-*.json"):
        try:
            lease = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        leases[lease["owner"]] = set(lease["tests"])
    return leases


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_run_paused_past_its_lease_while_another_runs_the_plan_doubles_nothing(
    tmp_path: Path, storage: str
) -> None:
    instances, lease = 12, 0.3  # 60 tests; the pause below lasts many leases
    args = [*_command(tmp_path, storage, instances, "--max-workers", "2")]
    args += ["--claim-lease", str(lease)]
    paused = _start(args)
    _wait_for_rows(tmp_path, storage, 3)
    paused.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        held = set().union(*_leased(tmp_path, storage).values())
        assert held, "the paused run holds tests while it is stopped"
        second = _start(args)
        # the second run finishes what it can meanwhile; it waits if the pause caught the first
        # inside the claims lock (a live process's lock is never broken)
        deadline = stopped_at + 10 * lease + 5.0
        while second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert time.monotonic() - stopped_at > 3 * lease, "the pause outlasted the lease"
    finally:
        paused.send_signal(signal.SIGCONT)
    summaries = [_summary(second), _summary(paused)]
    rows = _assert_each_test_once(tmp_path, storage, instances)
    assert sum(int(summary["finished"]) for summary in summaries) == len(rows) == 5 * instances  # type: ignore[call-overload]
    mine = {str(row["test_id"]) for row in rows if row["run_id"] == summaries[1]["run_id"]}
    assert held <= mine, "what the paused run held, it ran itself after SIGCONT"


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime (make test)")
@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_second_run_whose_clock_is_a_minute_ahead_doubles_nothing(
    tmp_path: Path, storage: str
) -> None:
    instances = 12
    args = _command(tmp_path, storage, instances, "--max-workers", "2")
    first = _start(args)
    _wait_for_rows(tmp_path, storage, 3)
    ahead = _start(["faketime", "-f", "+60s", *args])
    summaries = [_summary(first), _summary(ahead)]
    rows = _assert_each_test_once(tmp_path, storage, instances)
    assert sum(int(summary["finished"]) for summary in summaries) == len(rows)  # type: ignore[call-overload]
    assert len({row["run_id"] for row in rows}) == 2, "both runs stored tests"


def _store_rows(root: Path) -> list[dict[str, object]]:
    store = open_store(root, "json")
    try:
        return store.scan(["test_id", "attempt"]).to_pylist()
    finally:
        store.close()
