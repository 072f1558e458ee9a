"""Test claims with leases: concurrent runs never run the same test at the same time.

A run claims the tests it is about to run, through its store, before running them; a test is
granted only if it is not done and no live lease of another owner holds it. A lease lives in one
small JSON file per owner under ``<store>/<format>/claims/``::

    claims.lock                 portalocker lock file, never deleted: every claim, renew and
                                release reads and writes leases under it
    lease-<sha256(owner)>.json  {"owner", "pid", "host", "lease_s", "expires_at", "tests":
                                {test_id: attempt}} written atomically (tmp → fsync → replace)

A lease is **live** while its expiry lies ahead and, on this host, its pid is alive. So a holder
killed with ``kill -9`` frees its tests at once for claimers on the same host, and a holder on
another host (a shared file system) or one that hangs frees them when the lease expires unless
it calls ``renew`` in time. Leases of dead pids on this host are deleted by the next claim.

Attempt numbers stay unique per test: the claim hands out the attempt to record, one more than
the highest of the attempts stored for the test and those the lease files of living holders
list (so a holder whose lease expired while it kept running cannot collide with the one that
took over; a dead holder can append nothing more, so what it was issued is free again).
The check "not done" and the new lease are one step under the lock, so a test finished and
released by one run is never granted to another; for that to hold, the holder must ``append``
its record (durable on return) *before* it ``release``s the test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbench.storage.durable import atomic_write, disk_errors
from runbench.storage.locking import FileLock, fsync_dir, pid_is_alive
from runbench.storage.stored import StoredTests

log = logging.getLogger("runbench.storage")

CLAIM_LOCK_TIMEOUT_S = 600.0


@dataclass(slots=True)
class Lease:
    """One owner's lease: who holds it, until when, and the attempt issued for each test."""

    owner: str
    pid: int
    host: str
    lease_s: float
    expires_at: float
    tests: dict[str, int] = field(default_factory=dict)

    def is_live(self, now: float, host: str) -> bool:
        """Live: not expired, and (on this host) its process still exists."""
        if self.expires_at <= now:
            return False
        return self.host != host or pid_is_alive(self.pid)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "owner": self.owner,
                "pid": self.pid,
                "host": self.host,
                "lease_s": self.lease_s,
                "expires_at": self.expires_at,
                "tests": self.tests,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        """Raises ValueError, TypeError or KeyError when the file is not a lease."""
        raw: Any = json.loads(data.decode("utf-8"))
        tests = {str(key): int(value) for key, value in dict(raw["tests"]).items()}
        return cls(
            owner=str(raw["owner"]),
            pid=int(raw["pid"]),
            host=str(raw["host"]),
            lease_s=float(raw["lease_s"]),
            expires_at=float(raw["expires_at"]),
            tests=tests,
        )


class ClaimBook:
    """The leases of one store; ``stored`` reads done ids and attempts for given test ids."""

    def __init__(self, folder: Path, stored: Callable[[Sequence[str]], StoredTests]) -> None:
        self.folder = folder
        self._stored = stored
        self._lock: FileLock | None = None
        self._host = socket.gethostname()

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
            now = time.time()
            leases = self._read_leases()
            mine = leases.pop(owner, None)
            taken = {
                test_id
                for lease in leases.values()
                if lease.is_live(now, self._host)
                for test_id in lease.tests
            }
            held = {k: v for k, v in (mine.tests if mine else {}).items() if k not in taken}
            candidates = [test_id for test_id in wanted if test_id not in taken]
            stored = self._stored(candidates) if candidates else StoredTests()
            issued = _highest_issued(lease for lease in leases.values() if not self._is_dead(lease))
            for test_id in candidates:
                if test_id in stored.done:
                    held.pop(test_id, None)  # finished: nothing left to hold it for
                    continue
                if test_id not in held:
                    held[test_id] = 1 + max(stored.attempts.get(test_id, 0), issued.get(test_id, 0))
            lease = Lease(owner, os.getpid(), self._host, lease_s, now + lease_s, held)
            self._write(lease)
            self._forget_dead(leases.values())
        return {test_id: held[test_id] for test_id in wanted if test_id in held}

    def renew(self, owner: str) -> set[str]:
        """Extend ``owner``'s lease by its ``lease_s`` from now; return the test ids it holds.

        Tests another owner took over after this lease expired are dropped from it.
        """
        with self._locked():
            now = time.time()
            leases = self._read_leases()
            mine = leases.pop(owner, None)
            if mine is None:
                return set()
            taken = {
                test_id
                for lease in leases.values()
                if lease.is_live(now, self._host)
                for test_id in lease.tests
            }
            mine.tests = {k: v for k, v in mine.tests.items() if k not in taken}
            mine.expires_at = now + mine.lease_s
            mine.pid = os.getpid()
            self._write(mine)
            return set(mine.tests)

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
            if lease.tests:
                self._write(lease)
            else:
                with disk_errors("release claims in", self.folder):
                    path.unlink(missing_ok=True)
                    fsync_dir(self.folder)

    def held(self) -> dict[str, str]:
        """Test ids held by live leases, with their owner (for status displays and tests)."""
        with self._locked():
            now = time.time()
            return {
                test_id: lease.owner
                for lease in self._read_leases().values()
                if lease.is_live(now, self._host)
                for test_id in lease.tests
            }

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

    def _is_dead(self, lease: Lease) -> bool:
        """Its process, on this host, is gone: it can never append, so its attempts are void."""
        return lease.host == self._host and not pid_is_alive(lease.pid)

    def _forget_dead(self, leases: Iterable[Lease]) -> None:
        """Delete lease files of dead processes on this host."""
        for lease in leases:
            if self._is_dead(lease):
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
