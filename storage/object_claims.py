"""Test claims and the compaction lease of an object store, kept with conditional writes.

A bucket has no locks, so the claim book is one object, ``parquet/claims/book.json``, changed
only by compare-and-swap: read it with its e-tag, decide, write it back with ``If-Match`` (or
``If-None-Match: *`` when it does not exist yet). A write refused with 412 or 409 lost the race to
another claimer; the step is read and decided again, so two claimers never both hold one test.
The book holds one lease per owner (a run id), like the local claim book::

    {"leases": {owner: {"pid", "host", "lease_s", "expires_at", "tests": {test_id: attempt}}}}

A lease is live while it has not expired and, on this host, its pid is alive; a lease that
expired is **taken over** by the next claimer's compare-and-swap. Renewing is the same swap, so a
paused holder that wakes after its lease was taken over learns it on its next renewal (its lost
tests leave its lease) and, before that, on its next append: the store keeps the fencing rule
that a result of a claim the run no longer holds is never stored (``held_attempts``).

Expiry compares ``expires_at``, written by the holder, with the reader's clock: hosts of one
store must keep their clocks within a fraction of the lease (NTP does), the same assumption the
local claim book makes for a shared file system.

The compaction lease is its own object, ``parquet/compact.lease``, created with
``If-None-Match: *`` and taken over with ``If-Match`` once expired, so of two compactions that
start together exactly one proceeds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from runbench.errors import StoreError, StoreLockTimeout
from runbench.storage.bucket import Bucket
from runbench.storage.locking import pid_is_alive
from runbench.storage.stored import StoredTests

log = logging.getLogger("runbench.storage")

BOOK = "parquet/claims/book.json"
COMPACT_LEASE = "parquet/compact.lease"
FENCE_MARGIN_S = 1.0  # a lease this close to its expiry is checked in the bucket
MAX_SWAPS = 200  # lost races in a row before giving up: 200 claimers overtaking one
JsonObject = dict[str, Any]


@dataclass(slots=True)
class _Book:
    leases: dict[str, JsonObject]
    etag: str | None  # None: the book does not exist yet


class ObjectClaimBook:
    """The claim book of one object store (same methods as the local ``ClaimBook``)."""

    def __init__(self, bucket: Bucket, stored: Callable[[Sequence[str]], StoredTests]) -> None:
        self.bucket = bucket
        self._stored = stored
        self._host = socket.gethostname()
        # What this process last wrote for each owner it claims for: (expires_at, tests). While
        # that lease has not expired nobody can have taken it over, so fencing needs no read.
        self._mine: dict[str, tuple[float, dict[str, int]]] = {}

    def claim(self, test_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, int]:
        """Claim the free tests of ``test_ids`` for ``owner``; ``{test_id: attempt}`` held now.

        Raises:
            ValueError: empty owner or a lease that is not positive.
            StoreError: the bucket refused the write.
            StoreLockTimeout: lost the compare-and-swap ``MAX_SWAPS`` times in a row.
        """
        _check(owner, lease_s)
        wanted = list(dict.fromkeys(test_ids))
        for _ in range(MAX_SWAPS):
            book = self._read()
            now = time.time()
            others = {name: lease for name, lease in book.leases.items() if name != owner}
            taken = self._taken(others.values(), now)
            mine = book.leases.get(owner)
            held = {k: v for k, v in _tests(mine).items() if k not in taken}
            candidates = [test_id for test_id in wanted if test_id not in taken]
            # Done ids are read after the book, on every try: a test released since the book
            # was read was appended before its release, so it shows as done here.
            stored = self._stored(candidates) if candidates else StoredTests()
            issued = _highest_issued(lease for lease in others.values() if not self._dead(lease))
            for test_id in candidates:
                if test_id in stored.done:
                    held.pop(test_id, None)
                elif test_id not in held:
                    held[test_id] = 1 + max(stored.attempts.get(test_id, 0), issued.get(test_id, 0))
            leases = {name: lease for name, lease in others.items() if not self._dead(lease)}
            leases[owner] = self._lease(held, lease_s, now)
            if self._swap(book, leases):
                self._mine[owner] = (now + lease_s, dict(held))
                return {test_id: held[test_id] for test_id in wanted if test_id in held}
        raise StoreLockTimeout(f"could not update the claims of {self.bucket.url}: too busy")

    def renew(self, owner: str) -> set[str]:
        """Extend ``owner``'s lease from now; the tests it still holds (taken ones are dropped)."""
        for _ in range(MAX_SWAPS):
            book = self._read()
            mine = book.leases.get(owner)
            if mine is None:
                return set()
            now = time.time()
            others = [lease for name, lease in book.leases.items() if name != owner]
            taken = self._taken(others, now)
            tests = {k: v for k, v in _tests(mine).items() if k not in taken}
            leases = dict(book.leases)
            lease_s = float(mine.get("lease_s", 30.0))
            leases[owner] = self._lease(tests, lease_s, now)
            if self._swap(book, leases):
                self._mine[owner] = (now + lease_s, dict(tests))
                return set(tests)
        raise StoreLockTimeout(f"could not renew the claims on {self.bucket.url}: too busy")

    def release(self, owner: str, test_ids: Sequence[str] | None = None) -> None:
        """Give up ``test_ids`` (all when ``None``), only after their records were appended."""
        for _ in range(MAX_SWAPS):
            book = self._read()
            mine = book.leases.get(owner)
            if mine is None:
                return
            tests = {} if test_ids is None else dict(_tests(mine))
            for test_id in test_ids or ():
                tests.pop(test_id, None)
            leases = dict(book.leases)
            if tests:
                leases[owner] = {**mine, "tests": tests}
            else:
                del leases[owner]
            if self._swap(book, leases):
                if owner in self._mine:
                    self._mine[owner] = (self._mine[owner][0], dict(tests))
                return
        raise StoreLockTimeout(f"could not release claims on {self.bucket.url}: too busy")

    def held(self) -> dict[str, str]:
        """Test ids held by live leases, with their owners."""
        now = time.time()
        return {
            test_id: owner
            for owner, lease in self._read().leases.items()
            if self._live(lease, now)
            for test_id in _tests(lease)
        }

    def held_attempts(self, owner: str) -> dict[str, int] | None:
        """What ``owner`` holds now (``{test_id: attempt}``), or None when it claims nothing here.

        The fencing check of ``append``: a lease that no longer lists a test (or lists another
        attempt) means the claim was lost; an expired lease holds nothing. Owners this process
        never claimed for are not fenced (imports, migrations). While the lease this process
        last wrote for ``owner`` has not expired, no other claimer can have taken it over, so
        the answer comes without a request; after that (a paused or slow holder) the book is
        read.
        """
        known = self._mine.get(owner)
        if known is None:
            return None
        now = time.time()
        if now < known[0] - FENCE_MARGIN_S:
            return dict(known[1])
        lease = self._read().leases.get(owner)
        if lease is None or not self._live(lease, time.time()):
            return {}  # released, or expired: whatever it held may be another run's now
        self._mine[owner] = (float(lease.get("expires_at", 0)), _tests(lease))
        return _tests(lease)

    # -- the book ----------------------------------------------------------------------------

    def _read(self) -> _Book:
        found = self.bucket.get(BOOK)
        if found is None:
            return _Book({}, None)
        data, etag = found
        try:
            raw = json.loads(data.decode("utf-8"))
            leases = {str(k): dict(v) for k, v in dict(raw["leases"]).items()}
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise StoreError(
                f"the claim book {self.bucket.url}/{BOOK} is damaged ({type(error).__name__})",
                hint="no run can claim tests until it is fixed or deleted (deleting frees "
                "every claim)",
            ) from None
        return _Book(leases, etag)

    def _swap(self, book: _Book, leases: dict[str, JsonObject]) -> bool:
        data = json.dumps({"leases": leases}, sort_keys=True).encode()
        if book.etag is None:
            return self.bucket.create(BOOK, data) is not None
        return self.bucket.replace(BOOK, data, book.etag) is not None

    def _lease(self, tests: dict[str, int], lease_s: float, now: float) -> JsonObject:
        return {
            "pid": os.getpid(),
            "host": self._host,
            "lease_s": lease_s,
            "expires_at": now + lease_s,
            "tests": tests,
        }

    def _live(self, lease: JsonObject, now: float) -> bool:
        if float(lease.get("expires_at", 0)) <= now:
            return False
        return not self._dead(lease)

    def _dead(self, lease: JsonObject) -> bool:
        return lease.get("host") == self._host and not pid_is_alive(int(lease.get("pid", 0)))

    def _taken(self, leases: Any, now: float) -> set[str]:
        return {test_id for lease in leases if self._live(lease, now) for test_id in _tests(lease)}


class CompactionLease:
    """The one compaction of an object store at a time: an object with a lease in it."""

    def __init__(self, bucket: Bucket, lease_s: float) -> None:
        self.bucket = bucket
        self.lease_s = lease_s
        self._etag: str | None = None
        self._host = socket.gethostname()

    def acquire(self) -> bool:
        """Take the lease if nobody holds a live one; False when another compaction does."""
        data = self._payload()
        etag = self.bucket.create(COMPACT_LEASE, data)
        if etag is None:
            found = self.bucket.get(COMPACT_LEASE)
            if found is None:  # released meanwhile: try once more from the start
                etag = self.bucket.create(COMPACT_LEASE, data)
            elif _expired_or_dead(found[0], self._host):
                etag = self.bucket.replace(COMPACT_LEASE, data, found[1])
        self._etag = etag
        return etag is not None

    def renew(self) -> bool:
        """Extend the lease; False if it was taken over (the compaction must stop)."""
        if self._etag is None:
            return False
        self._etag = self.bucket.replace(COMPACT_LEASE, self._payload(), self._etag)
        return self._etag is not None

    def release(self) -> None:
        if self._etag is not None:
            self.bucket.delete(COMPACT_LEASE, self._etag)
            self._etag = None

    def _payload(self) -> bytes:
        return json.dumps(
            {"pid": os.getpid(), "host": self._host, "expires_at": time.time() + self.lease_s}
        ).encode()


def _expired_or_dead(data: bytes, host: str) -> bool:
    try:
        raw = json.loads(data.decode("utf-8"))
        expires_at, holder_host, pid = float(raw["expires_at"]), str(raw["host"]), int(raw["pid"])
    except (ValueError, TypeError, KeyError):
        return True  # not a lease anyone wrote whole: take it over
    if expires_at <= time.time():
        return True
    return holder_host == host and not pid_is_alive(pid)


def _tests(lease: JsonObject | None) -> dict[str, int]:
    if not lease:
        return {}
    return {str(k): int(v) for k, v in dict(lease.get("tests", {})).items()}


def _highest_issued(leases: Any) -> dict[str, int]:
    issued: dict[str, int] = {}
    for lease in leases:
        for test_id, attempt in _tests(lease).items():
            issued[test_id] = max(issued.get(test_id, 0), attempt)
    return issued


def _check(owner: str, lease_s: float) -> None:
    if not owner:
        raise ValueError("a claim needs a non-empty owner (e.g. the run id)")
    if not lease_s > 0:
        raise ValueError(f"lease_s must be positive, got {lease_s!r}")
