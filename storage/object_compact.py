"""Compaction of an object store's bucket, run under the compaction lease.

Split from ``object_store.py`` (a mixin of ``ObjectParquetStore``) because it is one idea:
merge the bucket's small parts, rewrite the parts that hold rows of revoked claims, delete what
was merged, and prune the claim book's revocations it applied. ``compact`` in the store takes
the lease and calls ``_compact_leased``; why each step is safe beside writers and readers is
told in ``object_store.py``'s docstring and beside the steps below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.errors import StoreError
from runbench.storage.base import CompactReport, Damage
from runbench.storage.bucket import Bucket
from runbench.storage.durable import remove_dead_temporaries
from runbench.storage.object_claims import ObjectClaimBook, Revoked
from runbench.storage.object_lease import CompactionLease
from runbench.storage.object_revoked import count_revoked, write_without
from runbench.storage.parquet_store import merge_groups
from runbench.storage.parts import Part

PARTS = "parquet/parts"


class ObjectCompaction:
    """The merging half of ``ObjectParquetStore.compact`` (a mixin)."""

    format: str
    url: str
    path: Path
    remote_dir: Path
    bucket: Bucket
    _object_claims: ObjectClaimBook

    if TYPE_CHECKING:  # provided by ParquetStore, which comes first in the store's bases

        def _open_parts_stable(self) -> tuple[list[Part], list[Damage]]: ...

        def _remove_dead_temporaries(self) -> int: ...

    def _compact_leased(self, lease: CompactionLease, target_rows: int) -> CompactReport:
        # The book is read before the parts are listed: an entry whose owner had no lease then
        # had every row of it uploaded already, so once this compaction rewrote the parts that
        # hold one, no later upload can bring it back and the entry may go.
        book = self._object_claims.read()
        revoked = book.revoked_keys()
        applied: set[Revoked] = {entry for entry in book.revoked if entry[1] not in book.leases}
        parts, _ = self._open_parts_stable()
        try:
            parts_before = len(parts)
            superseded = {name for part in parts for name in part.sources}
            removed = 0
            for part in parts:
                if part.path.name in superseded:
                    self.bucket.delete(f"{PARTS}/{part.path.name}")
                    removed += 1
            live = [part for part in parts if part.path.name not in superseded]
            merged_rows = 0
            groups = merge_groups([p for p in live if p.rows < target_rows], target_rows)
            if revoked:  # a part holding a revoked row is rewritten, merged or alone
                holding = count_revoked([part.path for part in live], revoked)
                grouped = {part.path for group in groups for part in group}
                groups += [[part] for part in live if part.path in holding.keys() - grouped]
            for group in groups:
                if not lease.renew():
                    raise StoreError(
                        f"lost the compaction lease of {self.url} (another compaction took it "
                        "over); stopped before writing another part",
                    )
                merged_rows += self._merge_remote(group, revoked)
        finally:
            for part in parts:
                part.file.close()
        pruned = self._object_claims.prune(applied) if applied else 0
        temporary = self._remove_dead_temporaries() + remove_dead_temporaries(self.remote_dir)
        if (self.path / "merging").is_dir():
            temporary += remove_dead_temporaries(self.path / "merging")
        return CompactReport(
            self.format,
            parts_before=parts_before,
            parts_after=len(self.bucket.list(PARTS)),
            superseded_removed=removed,
            temporary_removed=temporary,
            rows=merged_rows,
            notes=(f"dropped {pruned} applied revocation(s) from the claim book",)
            if pruned
            else (),
        )

    def _merge_remote(self, group: list[Part], revoked: frozenset[str]) -> int:
        """Upload one part made of ``group``; it names every file the group descends from."""
        lineage: list[str] = []
        for part in group:
            lineage += [part.path.name, *part.sources]
        folder = self.path / "merging"  # not remote/: readers there drop what is not listed
        folder.mkdir(exist_ok=True)
        final, rows = write_without(
            folder, [part.path for part in group], sorted(set(lineage)), revoked
        )
        name = _sorting_last(final.name, [part.path.name for part in group])
        try:
            if self.bucket.create(f"{PARTS}/{name}", final.read_bytes()) is None:
                raise StoreError(f"a compacted part {name} already exists in {self.url}")
            os.replace(final, self.remote_dir / name)  # the cached copy of what it wrote
        finally:
            final.unlink(missing_ok=True)
        for part in group:  # superseded now; readers that listed them read the new part instead
            self.bucket.delete(f"{PARTS}/{part.path.name}")
        return rows


def _sorting_last(name: str, sources: list[str]) -> str:
    """``name`` with a time no earlier than its sources', so it lists after every one of them.

    A reader lists keys in order: a merged part that sorts after its sources is either seen
    with them or, when they were deleted before the reader got to them, seen alone. Parts from
    a host whose clock runs ahead would otherwise sort after the merged part.
    """
    prefix, stamp, rest = name[:5], name[5:26], name[26:]
    latest = max(source[5:26] for source in sources) if sources else ""
    if stamp > latest or not latest[9:].isdigit():
        return name
    later = int(latest[9:]) + 1  # one microsecond later (as digits: the name only sorts)
    return f"{prefix}{latest[:9]}{min(later, 10**12 - 1):012d}{rest}"
