"""Test claims of an object store, kept with conditional writes and fenced by revocation.

A bucket has no locks, so the claim book is one object, ``parquet/claims/book.json``, changed
only by compare-and-swap: read it with its e-tag, decide, write it back with ``If-Match`` (or
``If-None-Match: *`` when it does not exist yet). A write refused with 412 or 409 lost the race to
another claimer; the step is read and decided again, so two claimers never both hold one test::

    {"leases": {owner: {"host", "boot", "pid", "started", "lease_s", "beat",
                        "tests": {test_id: attempt}}},
     "revoked": [[test_id, owner, attempt], ...]}

**When a lease ends** (``object_lease.py``): every claim and renewal writes a fresh random
``beat``. A holder on this host lives as long as its process; one on another host is taken over
once the taker has seen its beat unchanged for ``lease_s`` on the taker's own monotonic clock.
No expiry time is written, no two clocks are compared.

**Fencing.** The bucket cannot make "check the claim, then upload the row" one step, and a
holder may be paused between the two (or have rows sealed but not uploaded yet). So a takeover
*revokes*: the taker removes the tests from the silent (or dead) holder's lease and records
``(test_id, owner, attempt)`` in ``revoked`` in the same compare-and-swap. Every reader of the
store drops rows matching a revoked entry, and compaction rewrites the parts that hold them, so
a result of a claim the run no longer holds is never stored, however late it is uploaded. The
holder releases a test only after its row is uploaded (``ObjectParquetStore``), so until then
the test stays in its lease and a takeover revokes it.

**Bounded.** An entry is pruned once a compaction has rewritten every part (its row can only be
in one then) *and* the revoked owner has no lease left: a run removes its lease only after its
last upload, and a dead process's lease is removed on its host only after its segments were
uploaded (``forget_dead``). A run whose machine is lost for good keeps its (empty) lease and its
entries in the book until someone deletes them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbench.errors import StoreError, StoreLockTimeout
from runbench.storage.bucket import Bucket
from runbench.storage.liveness import ProcessIdentity
from runbench.storage.object_lease import (
    Watcher,
    holder_fields,
    holder_of,
    new_beat,
    trusted_until,
)
from runbench.storage.stored import StoredTests

log = logging.getLogger("runbench.storage")

BOOK = "parquet/claims/book.json"
MAX_SWAPS = 200  # lost races in a row before giving up: 200 claimers overtaking one
JsonObject = dict[str, Any]
Revoked = tuple[str, str, int]  # (test_id, owner, attempt): a row no reader may count


def revoked_key(entry: Revoked) -> str:
    """The row identity (``test_id|attempt|run_id``, as ``base.key_strings``) of an entry."""
    test_id, owner, attempt = entry
    return f"{test_id}|{attempt}|{owner}"


@dataclass(slots=True)
class Book:
    """The claim book as read: leases per owner, revoked rows, and the e-tag to swap against."""

    leases: dict[str, JsonObject] = field(default_factory=dict)
    revoked: list[Revoked] = field(default_factory=list)
    etag: str | None = None  # None: the book does not exist yet

    def revoked_keys(self) -> frozenset[str]:
        return frozenset(revoked_key(entry) for entry in self.revoked)


@dataclass(slots=True)
class _Sorted:
    """The other owners' leases as one claim sees them."""

    live: dict[str, JsonObject] = field(default_factory=dict)
    ended: dict[str, JsonObject] = field(default_factory=dict)  # silent, or dead on this host
    dead: set[str] = field(default_factory=set)


class ObjectClaimBook:
    """The claim book of one object store (same methods as the local ``ClaimBook``)."""

    def __init__(
        self,
        bucket: Bucket,
        stored: Callable[[frozenset[str]], StoredTests],
        watcher: Watcher | None = None,
    ) -> None:
        """Claims in ``bucket``; ``stored(revoked_keys)`` tells done ids and attempts.

        ``watcher`` keeps the beats seen: one with a file keeps them for the next command.
        """
        self.bucket = bucket
        self._stored = stored
        self._watcher = watcher or Watcher()
        # owner → (monotonic time until which nobody can have taken its lease, its tests)
        self._trusted: dict[str, tuple[float, dict[str, int]]] = {}

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
            started = time.monotonic()
            book = self.read()
            others = self._sort(book, owner)
            taken = {test_id for lease in others.live.values() for test_id in _tests(lease)}
            held = {k: v for k, v in _tests(book.leases.get(owner)).items() if k not in taken}
            candidates = [test_id for test_id in wanted if test_id not in taken]
            # Done ids are read after the book, on every try: a test released since the book
            # was read was uploaded before its release, so it shows as done here.
            stored = self._stored(book.revoked_keys()) if candidates else StoredTests()
            issued = _highest_issued(book)
            for test_id in candidates:
                if stored.is_done(test_id):
                    held.pop(test_id, None)
                elif test_id not in held:
                    held[test_id] = 1 + max(stored.highest_attempt(test_id), issued.get(test_id, 0))
            leases = dict(book.leases)
            revoked = list(book.revoked)
            for name, lease in others.ended.items():
                lost = set(_tests(lease)).intersection(held)
                if lost:
                    revoked += [(test_id, name, _tests(lease)[test_id]) for test_id in sorted(lost)]
                    left = {k: v for k, v in _tests(lease).items() if k not in lost}
                    leases[name] = {**lease, "tests": left}
            leases[owner] = self._lease(held, lease_s)
            if self._swap(book, leases, revoked):
                self._warn_taken(others.ended, held)
                self._trusted[owner] = (trusted_until(started, lease_s), dict(held))
                return {test_id: held[test_id] for test_id in wanted if test_id in held}
        raise StoreLockTimeout(f"could not update the claims of {self.bucket.url}: too busy")

    def renew(self, owner: str) -> set[str]:
        """Write a fresh beat for ``owner``; the tests it still holds (taken ones are gone)."""
        return set(self._renew(owner) or {})

    def _renew(self, owner: str) -> dict[str, int] | None:
        for _ in range(MAX_SWAPS):
            started = time.monotonic()
            book = self.read()
            mine = book.leases.get(owner)
            if mine is None:
                self._trusted.pop(owner, None)
                return None
            lease_s = float(mine.get("lease_s", 30.0))
            tests = _tests(mine)
            leases = {**book.leases, owner: self._lease(tests, lease_s)}
            if self._swap(book, leases, book.revoked):
                self._trusted[owner] = (trusted_until(started, lease_s), dict(tests))
                return tests
        raise StoreLockTimeout(f"could not renew the claims on {self.bucket.url}: too busy")

    def release(
        self, owner: str, test_ids: Sequence[str] | None = None, *, keep: Iterable[str] = ()
    ) -> None:
        """Give up ``test_ids`` (all but ``keep`` when ``None``), after their rows are uploaded.

        The lease itself leaves the book only when ``test_ids`` is None and nothing is kept.
        """
        kept = set(keep)
        for _ in range(MAX_SWAPS):
            book = self.read()
            mine = book.leases.get(owner)
            if mine is None:
                return
            tests = _tests(mine)
            for test_id in tests.keys() - kept if test_ids is None else test_ids:
                tests.pop(test_id, None)
            leases = dict(book.leases)
            if test_ids is None and not tests:
                del leases[owner]
            else:
                leases[owner] = {**mine, "tests": tests}
            if self._swap(book, leases, book.revoked):
                if owner in self._trusted:
                    self._trusted[owner] = (self._trusted[owner][0], dict(tests))
                return
        raise StoreLockTimeout(f"could not release claims on {self.bucket.url}: too busy")

    def held(self) -> dict[str, str]:
        """Test ids held by live leases, with their owners."""
        book = self.read()
        live = self._sort(book, "").live
        return {test_id: owner for owner, lease in live.items() for test_id in _tests(lease)}

    def held_attempts(self, owner: str) -> dict[str, int] | None:
        """What ``owner`` holds now (``{test_id: attempt}``), or None when it claims nothing here.

        The fencing check of ``append``. Owners this process never claimed for are not fenced
        (imports, migrations). While this process's last write of the lease is fresh (see
        ``object_lease.trusted_until``) nobody can have taken it over, so the answer needs no
        request; after that (a paused or slow holder) it renews, which both proves what it
        still holds and extends the trust. A test lost between this check and the upload is
        revoked by its taker, so its row is dropped by every reader.
        """
        known = self._trusted.get(owner)
        if known is None:
            return None
        if time.monotonic() < known[0]:
            return dict(known[1])
        return self._renew(owner) or {}

    def forget_dead(self) -> None:
        """Remove the leases of dead processes of this host (their segments are uploaded)."""
        for _ in range(MAX_SWAPS):
            book = self.read()
            dead = self._sort(book, "").dead
            if not dead:
                return
            leases = {name: lease for name, lease in book.leases.items() if name not in dead}
            if self._swap(book, leases, book.revoked):
                return

    def prune(self, applied: set[Revoked]) -> int:
        """Drop revoked entries a compaction applied whose owner has no lease left; how many."""
        for _ in range(MAX_SWAPS):
            book = self.read()
            gone = [e for e in book.revoked if e in applied and e[1] not in book.leases]
            if not gone:
                return 0
            if self._swap(book, book.leases, [e for e in book.revoked if e not in gone]):
                return len(gone)
        return 0

    # -- the book ----------------------------------------------------------------------------

    def read(self) -> Book:
        """The book as it is now (an empty one when no claim was ever made).

        Raises:
            StoreError: the book is not JSON of the expected shape.
        """
        found = self.bucket.get(BOOK)
        if found is None:
            return Book()
        data, etag = found
        try:
            raw = json.loads(data.decode("utf-8"))
            leases = {str(k): dict(v) for k, v in dict(raw["leases"]).items()}
            revoked = [(str(t), str(o), int(a)) for t, o, a in raw.get("revoked", [])]
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise StoreError(
                f"the claim book {self.bucket.url}/{BOOK} is damaged ({type(error).__name__})",
                hint="no run can claim tests until it is fixed or deleted (deleting frees "
                "every claim)",
            ) from None
        return Book(leases, revoked, etag)

    def _swap(self, book: Book, leases: dict[str, JsonObject], revoked: list[Revoked]) -> bool:
        data = json.dumps(
            {"leases": leases, "revoked": [list(entry) for entry in revoked]}, sort_keys=True
        ).encode()
        if book.etag is None:
            return self.bucket.create(BOOK, data) is not None
        return self.bucket.replace(BOOK, data, book.etag) is not None

    def _lease(self, tests: dict[str, int], lease_s: float) -> JsonObject:
        return {
            **holder_fields(ProcessIdentity.current()),
            "lease_s": lease_s,
            "beat": new_beat(),
            "tests": tests,
        }

    def _sort(self, book: Book, owner: str) -> _Sorted:
        found = _Sorted()
        for name, lease in book.leases.items():
            if name == owner:
                continue
            try:
                holder = holder_of(lease)
                state = self._watcher.state(
                    name, holder, str(lease.get("beat", "")), float(lease.get("lease_s", 30.0))
                )
            except (ValueError, TypeError):
                state = "silent"  # not a lease anyone wrote whole
            if state == "live":
                found.live[name] = lease
            else:
                found.ended[name] = lease
                if state == "dead":
                    found.dead.add(name)
        self._watcher.forget_except(set(book.leases))
        return found

    def _warn_taken(self, ended: dict[str, JsonObject], granted: dict[str, int]) -> None:
        for name, lease in ended.items():
            lost = set(_tests(lease)).intersection(granted)
            if lost:
                log.warning(
                    "took over %d test(s) of run %s on host %s (silent for %g s or ended); its "
                    "late results of them will not be counted",
                    len(lost),
                    name,
                    lease.get("host"),
                    float(lease.get("lease_s", 0)),
                )


def _tests(lease: JsonObject | None) -> dict[str, int]:
    if not lease:
        return {}
    return {str(k): int(v) for k, v in dict(lease.get("tests", {})).items()}


def _highest_issued(book: Book) -> dict[str, int]:
    """The highest attempt any lease or revoked entry names, per test (never issued twice)."""
    issued: dict[str, int] = {}
    for lease in book.leases.values():
        for test_id, attempt in _tests(lease).items():
            issued[test_id] = max(issued.get(test_id, 0), attempt)
    for test_id, _, attempt in book.revoked:
        issued[test_id] = max(issued.get(test_id, 0), attempt)
    return issued


def _check(owner: str, lease_s: float) -> None:
    if not owner:
        raise ValueError("a claim needs a non-empty owner (e.g. the run id)")
    if not lease_s > 0:
        raise ValueError(f"lease_s must be positive, got {lease_s!r}")
