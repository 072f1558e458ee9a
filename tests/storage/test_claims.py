"""Claims through the store: one holder per test, leases end with holders, unique attempts."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbench.records import Record
from runbench.storage import open_store, stored_tests
from runbench.synthetic import synthetic_records

CLAIMER = Path(__file__).with_name("claimer.py")


def _ids(count: int, seed: int = 0) -> list[str]:
    return [f"{random.Random(seed * 10_000 + n).getrandbits(128):032x}" for n in range(count)]


def _claimer(
    store: Path, storage_format: str, owner: str, ids: list[str], *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(CLAIMER),
            "--store",
            str(store),
            "--format",
            storage_format,
            "--owner",
            owner,
            "--ids",
            ",".join(ids),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _claimed(process: subprocess.Popen[str]) -> dict[str, int]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else "claimer printed nothing"
    return dict(json.loads(line)["claimed"])


def _record_for(test_id: str, attempt: int, *, status: str) -> Record:
    template = next(r for r in synthetic_records(300, seed=5) if r.status == status)
    return dataclasses.replace(template, test_id=test_id, attempt=attempt)


def test_processes_claiming_overlapping_ids_at_once_never_share_one(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(120)
    rng = random.Random(7)
    stop = tmp_path / "stop"
    start_at = time.time() + 2.0
    wanted = {f"owner-{n}": rng.sample(ids, 70) for n in range(6)}
    processes = [
        _claimer(
            tmp_path / "store",
            storage_format,
            owner,
            subset,
            "--batches",
            "5",
            "--start-at",
            str(start_at),
            "--stop-file",
            str(stop),
        )
        for owner, subset in wanted.items()
    ]
    try:
        grants = {
            owner: _claimed(process) for owner, process in zip(wanted, processes, strict=True)
        }
    finally:
        stop.touch()
        for process in processes:
            process.communicate(timeout=60)
    held: dict[str, str] = {}
    for owner, granted in grants.items():
        assert set(granted) <= set(wanted[owner])
        for test_id in granted:
            assert test_id not in held, f"{test_id} granted to {held[test_id]} and {owner}"
            held[test_id] = owner
    assert set(held) == set().union(*map(set, wanted.values())), "every wanted id went to someone"
    assert all(attempt == 1 for granted in grants.values() for attempt in granted.values())


def test_a_claimer_killed_with_sigkill_frees_its_ids_with_fresh_attempts(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(30, seed=1)
    holder = _claimer(tmp_path, storage_format, "doomed", ids, "--append-errors")
    try:
        granted = _claimed(holder)
        assert granted == dict.fromkeys(ids, 1)
        store = open_store(tmp_path, storage_format)
        assert store.claim(ids, "next", lease_s=60) == {}, "a live holder keeps its ids"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    store = open_store(tmp_path, storage_format)
    taken = store.claim(ids, "next", lease_s=60)
    assert taken == dict.fromkeys(ids, 2), "the dead holder's attempt 1 is stored, so 2 is next"
    assert stored_tests(store).errored == set(ids)


def test_done_tests_are_never_granted_and_errored_ones_are(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(4, seed=2)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "first", lease_s=60) == dict.fromkeys(ids, 1)
    store.append(
        [
            _record_for(ids[0], 1, status="full_success"),
            _record_for(ids[1], 1, status="failure"),
            _record_for(ids[2], 1, status="error"),
        ]
    )
    store.release("first", ids[:3])
    assert store.claim(ids, "second", lease_s=60) == {ids[2]: 2}, "ids[3] is still held"
    store.release("first")
    assert store.claim(ids, "second", lease_s=60) == {ids[2]: 2, ids[3]: 1}, (
        "ids[3] was released with nothing recorded, so its attempt 1 is still unused"
    )
    assert store.claimed() == {ids[2]: "second", ids[3]: "second"}


def test_an_expired_lease_is_taken_over_and_attempts_stay_unique(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(3, seed=3)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "slow", lease_s=0.05) == dict.fromkeys(ids, 1)
    time.sleep(0.1)  # let the lease run out; nothing is timed in the assertions
    assert store.claim(ids, "fast", lease_s=60) == dict.fromkeys(ids, 2), (
        "attempt 1 may still be recorded by the slow holder, so the new holder records 2"
    )
    assert store.renew("slow") == set(), "the slow holder learns it lost its tests"
    assert store.renew("fast") == set(ids)
    assert store.claim(ids, "fast", lease_s=60) == dict.fromkeys(ids, 2), (
        "claiming again is idempotent"
    )


def test_claim_arguments_are_checked(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    with pytest.raises(ValueError, match="owner"):
        store.claim(["a"], "", lease_s=1)
    with pytest.raises(ValueError, match="lease_s"):
        store.claim(["a"], "me", lease_s=0)


def test_a_test_finished_by_its_holder_is_not_granted_again(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(2, seed=4)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "me", lease_s=60) == dict.fromkeys(ids, 1)
    store.append([_record_for(ids[0], 1, status="partial_success")])
    assert store.claim(ids, "me", lease_s=60) == {ids[1]: 1}
    assert store.claimed() == {ids[1]: "me"}


def test_claimers_killed_mid_claim_leave_leases_every_later_claimer_can_read(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(40, seed=5)
    rng = random.Random(11)
    for round_index in range(3):
        churners = [
            _claimer(tmp_path, storage_format, f"churn-{round_index}-{n}", ids, "--churn")
            for n in range(3)
        ]
        for process in churners:
            assert process.stdout is not None
            for _ in range(rng.randint(1, 6)):  # let it get somewhere, then kill it mid-work
                assert process.stdout.readline() == "round\n", process.stderr
        for process in churners:
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=60)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "survivor", lease_s=60) == dict.fromkeys(ids, 1)
    assert set(store.claimed()) == set(ids)
    store.compact()
    assert not list((tmp_path / storage_format / "claims").glob(".tmp-*"))
