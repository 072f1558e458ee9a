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


def _rewrite_lease(folder: Path, owner: str, **changes: object) -> None:
    """Edit a lease file as a holder elsewhere would have written it (another host, pid...)."""
    for path in folder.glob("lease-*.json"):
        lease = json.loads(path.read_text())
        if lease["owner"] == owner:
            lease.update(changes)
            path.write_text(json.dumps(lease))
            return
    raise AssertionError(f"no lease of {owner}")


def test_a_live_holder_paused_past_its_lease_keeps_its_tests(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(5, seed=3)
    holder = _claimer(tmp_path, storage_format, "paused", ids, "--lease-s", "0.05")
    try:
        assert _claimed(holder) == dict.fromkeys(ids, 1)
        holder.send_signal(signal.SIGSTOP)
        store = open_store(tmp_path, storage_format)
        assert store.claim(ids, "eager", lease_s=60) == {}, "first look"
        time.sleep(0.3)  # six leases of the holder pass while it is stopped
        assert store.claim(ids, "eager", lease_s=60) == {}, "a stopped process is alive"
        assert set(store.claimed()) == set(ids)
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    assert store.claim(ids, "eager", lease_s=60) == dict.fromkeys(ids, 1), "dead: free at once"


def test_a_silent_holder_on_another_host_loses_its_tests_and_its_late_records(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(3, seed=3)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "far", lease_s=0.05) == dict.fromkeys(ids, 1)
    folder = tmp_path / storage_format / "claims"
    _rewrite_lease(folder, "far", host="another-host", boot="", pid=1, started="")
    assert store.claim(ids, "near", lease_s=60) == {}, "its heartbeat is only seen now"
    time.sleep(0.1)  # the taker's own clock: two of the holder's leases without a beat
    assert store.claim(ids, "near", lease_s=60) == dict.fromkeys(ids, 2), (
        "attempt 1 may still be recorded by the silent holder, so the new holder records 2"
    )
    assert store.renew("far") == set(), "the silent holder learns it lost its tests"
    late = [_record_for(test_id, 1, status="failure") for test_id in ids]
    assert store.append_held(late, "far") == late, "fenced: its late records are refused"
    assert stored_tests(store).attempts == {}, "nothing of the silent holder was stored"
    assert store.renew("near") == set(ids)
    assert store.claim(ids, "near", lease_s=60) == dict.fromkeys(ids, 2), "idempotent"


def test_a_holder_on_another_host_that_keeps_beating_keeps_its_tests(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(2, seed=8)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids, "far", lease_s=0.05) == dict.fromkeys(ids, 1)
    folder = tmp_path / storage_format / "claims"
    for beat in range(4):
        _rewrite_lease(folder, "far", host="another-host", boot="", pid=1, started="", beat=beat)
        assert store.claim(ids, "near", lease_s=60) == {}, f"beat {beat} seen: still held"
        time.sleep(0.06)  # longer than its lease, but it beat in between


def test_a_reused_pid_or_a_reboot_does_not_keep_a_dead_holders_tests(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(4, seed=9)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids[:2], "old-process", lease_s=60) == dict.fromkeys(ids[:2], 1)
    assert store.claim(ids[2:], "before-reboot", lease_s=60) == dict.fromkeys(ids[2:], 1)
    folder = tmp_path / storage_format / "claims"
    # this test's own pid, but a process that started at another time: not the holder
    _rewrite_lease(folder, "old-process", started="1")
    _rewrite_lease(folder, "before-reboot", boot="an-earlier-boot")
    assert store.claim(ids, "new", lease_s=60) == dict.fromkeys(ids, 1), (
        "a dead holder can append nothing: its attempts are free again"
    )
    assert sorted(path.name for path in folder.glob("lease-*.json")) == [
        path.name for path in folder.glob("lease-*.json") if "new" in path.read_text()
    ], "the dead holders' files are gone"


def test_append_held_stores_held_records_only_and_releases_them_in_the_same_step(
    tmp_path: Path, storage_format: str
) -> None:
    ids = _ids(4, seed=6)
    store = open_store(tmp_path, storage_format)
    assert store.claim(ids[:3], "me", lease_s=60) == dict.fromkeys(ids[:3], 1)
    held = _record_for(ids[0], 1, status="full_success")
    wrong_attempt = _record_for(ids[1], 2, status="failure")
    never_claimed = _record_for(ids[3], 1, status="failure")
    refused = store.append_held([held, wrong_attempt, never_claimed], "me")
    assert refused == [wrong_attempt, never_claimed]
    assert stored_tests(store).attempts == {ids[0]: 1}
    assert store.claimed() == {ids[1]: "me", ids[2]: "me"}, "the stored test was released"
    assert store.claim(ids[:1], "other", lease_s=60) == {}, "stored and done: never granted"


def test_a_claim_never_reads_the_whole_store_yet_sees_rows_other_runs_added(
    tmp_path: Path, storage_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _ids(3, seed=12)
    store = open_store(tmp_path, storage_format)
    store.append(synthetic_records(500, seed=4))  # rows of other tests, read once below
    assert store.claim(ids[:1], "me", lease_s=60) == {ids[0]: 1}

    def no_full_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("a claim read the whole store")

    monkeypatch.setattr(store, "scan_batches", no_full_read)
    monkeypatch.setattr(store, "scan", no_full_read)
    other = open_store(tmp_path, storage_format)  # another run, another process in real life
    assert other.claim(ids[1:], "other", lease_s=60) == dict.fromkeys(ids[1:], 1)
    finished = _record_for(ids[1], 1, status="failure")
    errored = _record_for(ids[2], 1, status="error")
    assert other.append_held([finished, errored], "other") == []
    assert store.claim(ids, "me", lease_s=60) == {ids[0]: 1, ids[2]: 2}, (
        "the test finished by the other run is done; the errored one runs again as attempt 2"
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
