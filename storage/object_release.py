"""Releasing an object store's claims only once the rows they fenced are in the bucket.

A result is appended to this machine's write-ahead segment and reaches the bucket later (every
N rows, T seconds, at exit). Were its test released at the append, another machine could claim
and run it again before the row is visible there. So a test appended for an owner stays in the
owner's lease until an upload has carried its row: a takeover meanwhile *revokes* it
(``object_claims.py``), and the lease itself leaves the book only when nothing of the owner waits.

Which rows an upload carried is told by counting seals: a row appended when this process had
sealed ``n`` segments lies in a segment sealed as number ``n + 1`` or later (or in the one its
own append sealed, counted as ``n``: released one upload later than it could be, never earlier),
and an upload that found nothing left to upload carried every segment sealed before it began.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from runbench.storage.object_claims import ObjectClaimBook


class ReleaseAfterUpload:
    """Tests appended per owner that wait for their upload before they are released."""

    def __init__(self, claims: ObjectClaimBook) -> None:
        self.claims = claims
        self._lock = threading.Lock()
        self._waiting: dict[str, dict[str, int]] = {}  # owner → {test_id: seals at its append}
        self._whole: set[str] = set()  # owners whose whole lease goes once nothing waits
        self._uploaded_through = 0  # every row appended at a lower seal count is uploaded
        self._released_through = 0  # no waiting count is below this: nothing to release

    def appended(self, owner: str, test_ids: Iterable[str], seals: int) -> None:
        """``test_ids`` were appended for ``owner`` after ``seals`` seals of this process."""
        with self._lock:
            self._waiting.setdefault(owner, {}).update(dict.fromkeys(test_ids, seals))

    def release(self, owner: str, test_ids: Sequence[str] | None) -> None:
        """Release now what is not waiting; the rest right after its upload."""
        with self._lock:
            waiting = set(self._waiting.get(owner, {}))
            if test_ids is None and waiting:
                self._whole.add(owner)
        if test_ids is None:
            self.claims.release(owner, None, keep=waiting)
        else:
            self.claims.release(owner, [t for t in test_ids if t not in waiting])

    def uploaded(self, seals: int, *, everything: bool = False) -> None:
        """An upload carried every segment sealed before ``seals`` (all rows: ``everything``)."""
        done: dict[str, list[str]] = {}
        whole: set[str] = set()
        with self._lock:
            self._uploaded_through = max(self._uploaded_through, seals)
            if not everything and self._released_through == self._uploaded_through:
                return  # every test waiting was appended at or after the last upload's seals
            self._released_through = self._uploaded_through
            for owner, waiting in list(self._waiting.items()):
                carried = [
                    test_id
                    for test_id, count in waiting.items()
                    if everything or count < self._uploaded_through
                ]
                for test_id in carried:
                    del waiting[test_id]
                if carried:
                    done[owner] = carried
                if not waiting:
                    del self._waiting[owner]
                    if owner in self._whole:
                        self._whole.discard(owner)
                        whole.add(owner)
        for owner, test_ids in done.items():
            self.claims.release(owner, None if owner in whole else test_ids)
        for owner in whole - set(done):
            self.claims.release(owner, None)
