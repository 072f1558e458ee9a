"""The rows the viewer holds: read in full once, then kept current from what was appended.

A page, its plot and every filter take their rows from one ``ViewRows``, so they cost one read
of the store, and a poll while nothing changed costs none. When the store's files change, only
the rows appended since the last read are read (``Store.rows_since``) and added: a poll during
a live run costs what the run wrote, not the store's size. A row delivered again (a write-ahead
segment sealed into a part, a JSON file rewritten by ``compact``) is recognised by its key
(test id, attempt, run id) and kept once, so every count stays exact. An ``s3://`` store is
read the same way (its new parts downloaded once into the local cache); the rows its revoked
claims hide are dropped as they arrive, and a new revocation starts the rows over.

Beside the rows it keeps the test ids that have more than one row (``repeated``): a report
needs each test's latest judged row, and knowing which tests have several spares it hashing a
million ids on every poll (``latest_results``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbench.analysis.report import categorical
from runbench.storage import Store
from runbench.storage.base import empty_table
from runbench.storage.object_revoked import drop_revoked

if TYPE_CHECKING:
    import pyarrow as pa

KEY_FIELDS = ("test_id", "attempt", "run_id")  # a stored row's identity (records.KEY_FIELDS)


@dataclass(frozen=True, slots=True)
class HeldRows:
    """The rows (low-cardinality text dictionary-encoded) and the ids of tests with several."""

    table: pa.Table
    repeated: frozenset[str]


class ViewRows:
    """The store's rows in ``columns``, current as of the last store version asked for.

    Owned by one app (no module-level state); one read at a time, the others wait and share it.
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = list(columns)
        self._lock = threading.Lock()
        self._version: str | None = None
        self._held: HeldRows | None = None
        self._position: object | None = None
        self._revoked: frozenset[str] = frozenset()

    def read(self, store: Store, version: str) -> HeldRows:
        with self._lock:
            if self._held is None or self._version != version:
                revoked = _revoked(store)
                if revoked - self._revoked:
                    # a new revocation may hide a row already held: read everything again
                    # (rare: a run's tests taken over by another machine)
                    self._held, self._position = None, None
                self._revoked = revoked
                since = store.rows_since(self._position, self._columns)
                batches = [categorical(drop_revoked(table, revoked)) for table in since]
                self._held = folded(self._held, batches, self._columns)
                self._position = since.position
                self._version = version
            return self._held


def _revoked(store: Store) -> frozenset[str]:
    """The rows a revoked claim hides, for a store that has claims in a bucket (else none).

    ``scan`` leaves them out, ``rows_since`` does not: the held rows must not keep them.
    """
    keys = getattr(store, "revoked_keys", None)
    return frozenset(keys()) if callable(keys) else frozenset()


def folded(held: HeldRows | None, batches: list[pa.Table], columns: Sequence[str] = ()) -> HeldRows:
    """``held`` with the rows of ``batches`` it does not hold yet (by their key) added."""
    import pyarrow as pa

    if not batches:
        if held is not None:
            return held
        return HeldRows(categorical(empty_table(list(columns))), frozenset())
    new = pa.concat_tables(batches)
    if held is None or held.table.num_rows == 0:
        return HeldRows(new, _repeated_within(new))  # a read delivers each row once
    fresh, again = _not_held(held.table, new)
    if fresh.num_rows == 0:
        return held
    repeated = held.repeated | again | _repeated_within(fresh)
    return HeldRows(pa.concat_tables([held.table, fresh]), repeated)


def _not_held(held: pa.Table, new: pa.Table) -> tuple[pa.Table, frozenset[str]]:
    """The rows of ``new`` whose key no held row has, and the ids of those held already.

    Only held rows sharing a test id with the new rows are compared (a hash of the few new
    ids probed by every held row), so a poll stays cheap; a re-read of everything after a
    JSON ``compact`` compares everything, once.
    """
    import pyarrow.compute as pc

    ids = pc.unique(new.column("test_id"))
    same = held.filter(pc.is_in(held.column("test_id"), value_set=ids))
    if same.num_rows == 0:
        return new, frozenset()
    keys = set(zip(*(same.column(name).to_pylist() for name in KEY_FIELDS), strict=True))
    rows = zip(*(new.column(name).to_pylist() for name in KEY_FIELDS), strict=True)
    fresh = new.filter([key not in keys for key in rows])
    ids_held = set(same.column("test_id").to_pylist())
    return fresh, frozenset(ids_held.intersection(fresh.column("test_id").to_pylist()))


def _repeated_within(table: pa.Table) -> frozenset[str]:
    """The test ids that occur on more than one row of ``table``.

    Counting a million 32-character ids in a hash table (``value_counts``) costs a third of a
    second and over 100 MiB; stored ids are fixed-width, so their first 8 bytes, sorted as
    integers, name the few candidates in a twentieth of that, and only the candidates' rows are
    counted exactly (two ids sharing a prefix but not equal are not reported). Ids of uneven
    width (e.g. imported ones) are counted the exact way directly.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table.column("test_id")
    candidates = _prefix_candidates(ids)
    if candidates is None:
        return _counted_twice(ids)
    if len(candidates) == 0:
        return frozenset()
    keep = pc.is_in(ids, value_set=pa.array(candidates, type=pa.string()))
    return _counted_twice(ids.filter(keep))


def _counted_twice(ids: pa.ChunkedArray | pa.Array) -> frozenset[str]:
    import pyarrow.compute as pc

    counts = pc.value_counts(ids)
    several = counts.filter(pc.greater(counts.field("counts"), 1))
    return frozenset(str(value) for value in several.field("values").to_pylist())


def _prefix_candidates(ids: pa.ChunkedArray) -> list[str] | None:
    """The ids whose first ``_PREFIX`` bytes another row's id shares.

    ``None`` when the ids are not all of one width of at least ``_PREFIX`` bytes, or some are
    null: the caller then counts them all.
    """
    import numpy as np
    import pyarrow as pa

    if ids.null_count or not pa.types.is_string(ids.type):
        return None
    blocks: list[Any] = []  # each chunk's ids as rows of bytes, one row per id
    for chunk in ids.chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        widths = np.unique(np.diff(offsets))
        if len(widths) != 1 or widths[0] < _PREFIX or (blocks and blocks[0].shape[1] != widths[0]):
            return None
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        blocks.append(data.reshape(-1, int(widths[0])))
    if not blocks:
        return []
    prefixes = [block[:, :_PREFIX].copy().view("<u8").ravel() for block in blocks]
    keys = np.sort(np.concatenate(prefixes))
    shared = np.unique(keys[1:][keys[1:] == keys[:-1]])
    if len(shared) == 0:
        return []
    return [
        bytes(row).decode()
        for block, prefix in zip(blocks, prefixes, strict=True)
        for row in block[np.isin(prefix, shared)]
    ]


_PREFIX = 8  # bytes of an id compared as one integer
