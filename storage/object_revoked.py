"""Rows of revoked claims, left out of everything an object store reads, knows and compacts.

A run that lost a claim may still upload its row late (it was paused, or its part was sealed
before the loss); the claim book then names that row in ``revoked`` (``object_claims.py``).
This module is the one place that decides what such a row does: nothing. Readers drop it
(``drop_revoked``), the incremental done set never counts it (``ObjectKnownTests``), and
compaction rewrites the parts that hold one without it (``write_without``), so outside readers
(pyarrow, DuckDB, Polars) reading the compacted bucket never see it either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.records import KEY_FIELDS, upgrade_table
from runbench.storage.base import RowsSince, key_strings
from runbench.storage.parts import write_merged
from runbench.storage.stored import KNOWN_COLUMNS as STORED_COLUMNS
from runbench.storage.stored import StoredTests, _fold

if TYPE_CHECKING:
    import pyarrow as pa

KNOWN_COLUMNS = list(STORED_COLUMNS)  # what stored.KnownTests folds (error categories too)


def revoked_mask(table: pa.Table, revoked: frozenset[str]) -> pa.BooleanArray:
    """True for the rows of ``table`` (with the key columns) that a revoked entry names."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(key_strings(table), value_set=pa.array(sorted(revoked), pa.string()))


def drop_revoked(table: pa.Table, revoked: frozenset[str]) -> pa.Table:
    """``table`` without the rows of revoked claims (it must hold the key columns)."""
    import pyarrow.compute as pc

    if not revoked or table.num_rows == 0:
        return table
    return table.filter(pc.invert(revoked_mask(table, revoked)))


def with_keys(columns: Sequence[str]) -> list[str]:
    """``columns`` and the key columns a revocation is matched on."""
    return [*columns, *(name for name in KEY_FIELDS if name not in columns)]


class ObjectKnownTests:
    """``StoredTests`` of an object store, brought up to date from the rows added since.

    Like ``stored.KnownTests``: the first refresh reads every part once (from the local
    cache, downloading each part only once), every later one only the segments' new lines
    and the parts not seen before (``parquet_since``), so a claim's cost follows what other
    machines uploaded meanwhile, never the store's size. Revoked rows are never folded in; a
    revocation that names a row already folded (rare: the row was uploaded before its test
    was taken over) makes the next refresh start over.
    """

    def __init__(self, read_since: Callable[[object | None, Sequence[str]], RowsSince]) -> None:
        self._read_since = read_since
        self._lock = threading.Lock()
        self._position: object | None = None
        self._tests = StoredTests()
        self._revoked: frozenset[str] = frozenset()

    def refresh(self, revoked: frozenset[str]) -> StoredTests:
        """Fold in the rows added since the last refresh; return the (live) result."""
        with self._lock:
            fresh = revoked - self._revoked
            if any(key.split("|", 1)[0] in self._tests.attempts for key in fresh):
                self._position, self._tests = None, StoredTests()
            self._revoked = revoked
            rows = self._read_since(self._position, with_keys(KNOWN_COLUMNS))
            for table in rows:
                _fold(self._tests, drop_revoked(table, revoked).select(KNOWN_COLUMNS))
            self._position = rows.position
            return self._tests


def write_without(
    folder: Path, paths: Sequence[Path], sources: Sequence[str], revoked: frozenset[str]
) -> tuple[Path, int]:
    """Merge the parts at ``paths`` into one sealed part, revoked rows left out; its rows too."""
    import pyarrow.parquet as pq

    final = write_merged(folder, paths, sources, lambda table: drop_revoked(table, revoked))
    return final, pq.ParquetFile(final).metadata.num_rows


def count_revoked(paths: Sequence[Path], revoked: frozenset[str]) -> dict[Path, int]:
    """How many revoked rows each part at ``paths`` holds (only the key columns are read)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    found: dict[Path, int] = {}
    for path in paths:
        table = upgrade_table(pq.read_table(path, columns=list(KEY_FIELDS)), list(KEY_FIELDS))
        count = int(pc.sum(revoked_mask(table, revoked)).as_py() or 0)
        if count:
            found[path] = count
    return found
