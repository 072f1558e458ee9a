"""Test claims with leases and fencing: a test runs once, whatever pauses or clocks do.

A run claims the tests it is about to run, through its store, before running them; a test is
granted only if it is not done and no live lease of another owner holds it. A lease lives in one
small JSON file per owner under ``<store>/<format>/claims/``::

    claims.lock                 portalocker lock file, never deleted: every claim, renew, append
                                and release reads and writes leases under it
    lease-<sha256(owner)>.json  {"owner", "host", "boot", "pid", "started", "lease_s", "beat",
                                "tests": {test_id: attempt}} written atomically (tmp → fsync →
                                replace)

**When a lease ends.** No step compares clocks of two processes (no expiry time is written):

* Holder on this host and boot (``liveness.py``): the lease lives exactly as long as the
  process with its pid and start time. ``kill -9`` frees its tests at once; a process paused
  with SIGSTOP, or whose clock is set elsewhere (``faketime``), keeps them however long it
  sleeps; a reused pid is another process.
* Holder on another host (a shared file system): its ``beat`` counter goes up with every claim
  and renewal. A claimer takes its tests over only after seeing the same ``beat`` for the
  holder's ``lease_s``, measured on the claimer's own monotonic clock from the first time it saw
  that value. The taker removes the tests it took from the holder's file, so the holder learns
  of the loss at its next ``renew``.

**Fencing.** A record is appended only while its run still holds the test with the record's
attempt: ``append_held`` checks the owner's lease and appends under the claims lock, then drops
the appended tests from the lease in the same critical section. A holder that lost a test (taken
over while it was silent) has its late record refused, so a pause can cost a wasted test, never
a doubled row. Released only after the append is durable, a test is never granted again before
its row is visible.

**Done without reading the store.** A claim asks ``KnownTests`` (``stored.py``), which is read
in full once per open store (planning shares that read) and then brought up to date, under the
claims lock, with only the rows appended since. A test another run finished is therefore seen
as done however large the store is, at a cost that does not grow with it.

Attempt numbers stay unique per test: the claim hands out one more than the highest of the
attempts stored for the test and those the lease files of non-dead holders list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbench.records import Record
from runbench.storage.durable import atomic_write, disk_errors
from runbench.storage.liveness import ProcessIdentity
from runbench.storage.locking import FileLock, fsync_dir
from runbench.storage.stored import KnownTests

log = logging.getLogger("runbench.storage")

CLAIM_LOCK_TIMEOUT_S = 600.0


@dataclass(slots=True)
class Lease:
    """One owner's lease: who holds it, its heartbeat, and the attempt issued for each test."""

    owner: str
    holder: ProcessIdentity
    lease_s: float
    beat: int = 0
    tests: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "owner": self.owner,
                "host": self.holder.host,
                "boot": self.holder.boot,
                "pid": self.holder.pid,
                "started": self.holder.started,
                "lease_s": self.lease_s,
                "beat": self.beat,
                "tests": self.tests,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        """Raises ValueError, TypeError or KeyError when the file is not a lease."""
        raw: Any = json.loads(data.decode("utf-8"))
        tests = {str(key): int(value) for key, value in dict(raw["tests"]).items()}
        holder = ProcessIdentity(
            host=str(raw["host"]),
            boot=str(raw.get("boot", "")),
            pid=int(raw["pid"]),
            started=str(raw.get("started", "")),
        )
        lease_s = float(raw["lease_s"])
        return cls(str(raw["owner"]), holder, lease_s, int(raw.get("beat", 0)), tests)


@dataclass(slots=True)
class _Leases:
    """The other owners' leases as one claim sees them."""

    live: list[Lease] = field(default_factory=list)  # hold their tests
    silent: list[Lease] = field(default_factory=list)  # another host, silent for a lease
    dead: list[Lease] = field(default_factory=list)  # this host and boot, process gone

    def taken(self) -> set[str]:
        return {test_id for lease in self.live for test_id in lease.tests}


class ClaimBook:
    """The leases of one store; ``known`` tells done ids and attempts, kept current cheaply."""

    def __init__(self, folder: Path, known: KnownTests) -> None:
        self.folder = folder
        self.known = known
        self._lock: FileLock | None = None
        # owner → (beat last seen, monotonic time it was first seen): this process's own clock
        self._beats: dict[str, tuple[int, float]] = {}

    def _locked(self) -> FileLock:
        if self._lock is None:
            with disk_errors("create the claims folder", self.folder):
                self.folder.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(self.folder / "claims.lock", timeout_s=CLAIM_LOCK_TIMEOUT_S)
        return self._lock

    def claim(self, test_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, int]:
        """Claim the tests of ``test_ids`` that are free; return ``{test_id: attempt}`` held now.

        Raises:
            ValueError: empty owner or a lease that is not positive.
            StoreError: the lease cannot be written (disk full, read-only).
            StoreLockTimeout: another claimer held the lock past the timeout.
        """
        _check(owner, lease_s)
        wanted = list(dict.fromkeys(test_ids))
        with self._locked():
            me = ProcessIdentity.current()
            leases = self._read_leases()
            mine = leases.pop(owner, None)
            others = self._sort(leases.values(), me)
            taken = others.taken()
            held = dict(mine.tests) if mine else {}
            candidates = [test_id for test_id in wanted if test_id not in taken]
            if candidates:
                known = self.known.refresh()  # under the lock: every released test's row is in
                issued = _highest_issued([*others.live, *others.silent])
                for test_id in candidates:
                    about = known.about(test_id)
                    if about.done:
                        held.pop(test_id, None)  # finished: nothing left to hold it for
                    elif test_id not in held:
                        held[test_id] = 1 + max(about.attempt, issued.get(test_id, 0))
            beat = mine.beat + 1 if mine else 0
            self._write(Lease(owner, me, lease_s, beat, held))
            self._take_from_silent(others.silent, set(held))
            self._forget_dead(others.dead)
        return {test_id: held[test_id] for test_id in wanted if test_id in held}

    def renew(self, owner: str) -> set[str]:
        """Beat ``owner``'s heartbeat; return the test ids it still holds.

        Tests another owner took over while this one was silent are gone from its lease: the
        caller must cancel them (queued or in flight) — their records would be refused anyway.
        """
        with self._locked():
            mine = self._read_lease(self._path_of(owner))
            if mine is None:
                return set()
            mine.beat += 1
            mine.holder = ProcessIdentity.current()
            self._write(mine)
            return set(mine.tests)

    def append_held(
        self, owner: str, records: Sequence[Record], append: Callable[[Sequence[Record]], None]
    ) -> list[Record]:
        """Append the records ``owner`` still holds the claim for; return those refused.

        The check and the append are one critical section under the claims lock, and the
        appended tests leave the lease in it too, so no other run can be granted a test between
        its record becoming durable and its release, nor can a record land after its claim was
        taken over. A record is held when the lease lists its test with the record's attempt.
        """
        with self._locked():
            path = self._path_of(owner)
            lease = self._read_lease(path)
            tests = lease.tests if lease is not None else {}
            kept = [record for record in records if tests.get(record.test_id) == record.attempt]
            refused = [record for record in records if tests.get(record.test_id) != record.attempt]
            if kept:
                append(kept)
            if lease is not None and kept:
                for record in kept:
                    lease.tests.pop(record.test_id, None)
                self._save_or_remove(path, lease)
        return refused

    def release(self, owner: str, test_ids: Sequence[str] | None = None) -> None:
        """Give up ``test_ids`` (all of ``owner``'s tests when ``None``).

        Call it only after the tests' records were appended, or they may be granted again.
        """
        with self._locked():
            path = self._path_of(owner)
            lease = self._read_lease(path)
            if lease is None:
                return
            if test_ids is None:
                lease.tests = {}
            else:
                for test_id in test_ids:
                    lease.tests.pop(test_id, None)
            self._save_or_remove(path, lease)

    def held(self) -> dict[str, str]:
        """Test ids held by live leases, with their owner (for status displays and tests)."""
        with self._locked():
            leases = list(self._read_leases().values())
            live = self._sort(leases, ProcessIdentity.current()).live
            return {test_id: lease.owner for lease in live for test_id in lease.tests}

    # -- liveness --------------------------------------------------------------------------

    def _sort(self, leases: Iterable[Lease], me: ProcessIdentity) -> _Leases:
        """Live, silent (another host, no heartbeat for a lease) or dead (this host, gone)."""
        found = _Leases()
        now = time.monotonic()
        present: set[str] = set()
        for lease in leases:
            present.add(lease.owner)
            if lease.holder.host == me.host:  # a reboot since ends every lease of this host
                alive = lease.holder.shares_boot_with(me) and lease.holder.is_alive()
                (found.live if alive else found.dead).append(lease)
            elif self._is_silent(lease, now):
                found.silent.append(lease)
            else:
                found.live.append(lease)
        for owner in set(self._beats) - present:
            del self._beats[owner]
        return found

    def _is_silent(self, lease: Lease, now: float) -> bool:
        """The lease's beat has not moved for its ``lease_s`` on this process's clock."""
        seen = self._beats.get(lease.owner)
        if seen is None or seen[0] != lease.beat:
            self._beats[lease.owner] = (lease.beat, now)
            return False
        return now - seen[1] >= lease.lease_s

    # -- files -----------------------------------------------------------------------------

    def _path_of(self, owner: str) -> Path:
        digest = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]
        return self.folder / f"lease-{digest}.json"

    def _read_leases(self) -> dict[str, Lease]:
        leases: dict[str, Lease] = {}
        for path in sorted(self.folder.glob("lease-*.json")):
            lease = self._read_lease(path)
            if lease is not None:
                leases[lease.owner] = lease
        return leases

    def _read_lease(self, path: Path) -> Lease | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return Lease.from_json(data)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            # Written atomically, so only outside damage gets here: holds nothing we can trust.
            log.warning("ignored a damaged lease file %s (%s)", path, type(error).__name__)
            return None

    def _write(self, lease: Lease) -> None:
        path = self._path_of(lease.owner)
        with disk_errors("write the claims of", path):
            atomic_write(path, lease.to_json())

    def _save_or_remove(self, path: Path, lease: Lease) -> None:
        if lease.tests:
            self._write(lease)
            return
        with disk_errors("release claims in", self.folder):
            path.unlink(missing_ok=True)
            fsync_dir(self.folder)

    def _take_from_silent(self, silent: Iterable[Lease], granted: set[str]) -> None:
        """Strip the tests just granted from silent holders' files: they have lost them."""
        for lease in silent:
            lost = granted.intersection(lease.tests)
            if lost:
                log.warning(
                    "took over %d test(s) of run %s on host %s: no heartbeat for %g s",
                    len(lost),
                    lease.owner,
                    lease.holder.host,
                    lease.lease_s,
                )
                for test_id in lost:
                    del lease.tests[test_id]
                self._save_or_remove(self._path_of(lease.owner), lease)

    def _forget_dead(self, leases: Iterable[Lease]) -> None:
        """Delete lease files of dead processes on this host: they can never append."""
        for lease in leases:
            self._path_of(lease.owner).unlink(missing_ok=True)


def _highest_issued(leases: Iterable[Lease]) -> dict[str, int]:
    issued: dict[str, int] = {}
    for lease in leases:
        for test_id, attempt in lease.tests.items():
            issued[test_id] = max(issued.get(test_id, 0), attempt)
    return issued


def _check(owner: str, lease_s: float) -> None:
    if not owner:
        raise ValueError("a claim needs a non-empty owner (e.g. the run id)")
    if not lease_s > 0:
        raise ValueError(f"lease_s must be positive, got {lease_s!r}")
