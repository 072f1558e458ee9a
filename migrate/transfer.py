"""Moving records from one store to another: streaming, idempotent, verified.

The system runbench replaces had six JSON→Parquet converters, each of which lost or invented
data. This one copies rows, never reinterprets them: a row's identity is (test_id, attempt,
run_id), a row already in the destination is not copied again, and after copying every source
row is looked up in the destination and its content digest compared. Memory holds one batch of
rows plus one key and one 64-bit digest per row, never the whole store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.storage import Store

from runbench.errors import MigrationError
from runbench.records import KEY_FIELDS, arrow_schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

_FLUSH_ROWS = 131_072


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a migration found and did; ``copied`` is 0 on a dry run."""

    source_format: str
    source_path: Path
    destination_format: str
    destination_path: Path
    source_rows: int
    already_present: int
    duplicates_in_source: int
    copied: int
    verified_rows: int
    dry_run: bool
    seconds: float

    @property
    def to_copy(self) -> int:
        return self.source_rows - self.already_present - self.duplicates_in_source

    def describe(self) -> list[str]:
        """The lines ``runbench migrate`` prints."""
        verb = "would copy" if self.dry_run else "copied"
        lines = [
            f"{self.source_format} -> {self.destination_format}: {self.source_rows} source rows, "
            f"{self.already_present} already present, {self.duplicates_in_source} duplicate(s) "
            f"in source, {verb} {self.to_copy if self.dry_run else self.copied}"
        ]
        if not self.dry_run:
            rate = self.source_rows / self.seconds if self.seconds else 0.0
            lines.append(
                f"verified {self.verified_rows} rows (count and content checksum) in "
                f"{self.seconds:.1f} s ({rate:,.0f} rows/s)"
            )
        return lines


def _normalized_frame(table: pa.Table) -> pd.DataFrame:
    """The table in record schema as pandas, lists joined, so equal rows hash equally."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_list(column.type):
            # the separator cannot occur in a tool name; the count tells [] from [""]
            joined = pc.binary_join(column, "\x1f")
            length = pc.cast(pc.list_value_length(column), pa.string())
            column = pc.binary_join_element_wise(length, joined, ":")
        columns[name] = column
    return pa.table(columns).to_pandas()


def row_hashes(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a 64-bit hash of its key (test_id, attempt, run_id) and of its full content."""
    import pandas as pd

    frame = _normalized_frame(table.select(arrow_schema().names).cast(arrow_schema()))
    keys = pd.util.hash_pandas_object(frame[list(KEY_FIELDS)], index=False).to_numpy()
    content = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return keys, content


def key_hashes(table: pa.Table) -> np.ndarray:
    """The key hashes of ``row_hashes`` from the key columns alone."""
    import pandas as pd
    import pyarrow as pa

    keys = table.select(list(KEY_FIELDS))
    schema = pa.schema([arrow_schema().field(name) for name in KEY_FIELDS])
    return pd.util.hash_pandas_object(keys.cast(schema).to_pandas(), index=False).to_numpy()


def _prefetched(batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Read the next batch in a thread while the caller works on this one.

    Arrow parses and decodes with the GIL released, so reading overlaps with hashing and writing;
    one batch ahead keeps memory bounded.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


def migrate_store(source: Store, destination: Store, *, dry_run: bool = False) -> MigrationReport:
    """Copy every row of ``source`` that ``destination`` lacks, then verify the destination.

    Rows are identified by a 64-bit hash of their key. Every source row's (key, content digest)
    is checked against the destination afterwards, so a hash collision can only make the
    verification fail loudly; it can never drop a row silently.

    Raises:
        MigrationError: after copying, a source row is missing from the destination or differs.
    """
    import numpy as np
    import pyarrow as pa

    started = time.perf_counter()
    present: set[int] = set()
    for batch in destination.scan_batches(list(KEY_FIELDS)):
        present.update(key_hashes(batch).tolist())
    seen: set[int] = set()
    expected_keys: list[np.ndarray] = []
    expected_digests: list[np.ndarray] = []
    source_rows = already = duplicates = copied = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    for batch in _prefetched(source.scan_batches()):
        keys, digests = row_hashes(batch)
        keep = np.zeros(len(keys), dtype=bool)
        for index, key in enumerate(keys.tolist()):
            if key in seen:
                duplicates += 1
            elif key in present:
                seen.add(key)
                already += 1
            else:
                seen.add(key)
                keep[index] = True
        expected_keys.append(keys)  # duplicates too: a differing duplicate must fail the check
        expected_digests.append(digests)
        source_rows += len(keys)
        if dry_run or not keep.any():
            continue
        pending.append(batch.filter(pa.array(keep)))
        pending_rows += int(keep.sum())
        if pending_rows >= _FLUSH_ROWS:
            copied += _flush(destination, pending)
            pending, pending_rows = [], 0
    if pending:
        copied += _flush(destination, pending)
    verified = 0
    if not dry_run and expected_keys:
        verified = _verify(
            destination, np.concatenate(expected_keys), np.concatenate(expected_digests)
        )
    return MigrationReport(
        source_format=source.format,
        source_path=source.path,
        destination_format=destination.format,
        destination_path=destination.path,
        source_rows=source_rows,
        already_present=already,
        duplicates_in_source=duplicates,
        copied=copied,
        verified_rows=verified,
        dry_run=dry_run,
        seconds=time.perf_counter() - started,
    )


def _flush(destination: Store, tables: list[pa.Table]) -> int:
    import pyarrow as pa

    table = pa.concat_tables(tables)
    destination.append_table(table)
    return table.num_rows


def _verify(destination: Store, keys: np.ndarray, digests: np.ndarray) -> int:
    """Every source (key, digest) pair is in the destination; returns the rows checked."""
    import numpy as np

    found_keys: list[np.ndarray] = []
    found_digests: list[np.ndarray] = []
    for batch in _prefetched(destination.scan_batches()):
        batch_keys, batch_digests = row_hashes(batch)
        found_keys.append(batch_keys)
        found_digests.append(batch_digests)
    stored = np.concatenate(found_keys) if found_keys else np.zeros(0, dtype=np.uint64)
    stored_digests = (
        np.concatenate(found_digests) if found_digests else np.zeros(0, dtype=np.uint64)
    )
    # sort by (key, digest) so a key stored with the wanted digest is found even beside another
    order = np.lexsort((stored_digests, stored))
    stored, stored_digests = stored[order], stored_digests[order]
    wanted = np.rec.fromarrays([keys, digests], names="key,digest")
    have = np.rec.fromarrays([stored, stored_digests], names="key,digest")
    position = np.searchsorted(have, wanted)
    inside = position < len(have)
    matched = np.zeros(len(wanted), dtype=bool)
    matched[inside] = have[position[inside]] == wanted[inside]
    missing = int((~matched).sum())
    if missing:
        raise MigrationError(
            f"verification failed: {missing} source rows are missing from {destination.path} or "
            "differ there in content",
            hint="run 'runbench verify' on both stores; the source was not changed",
        )
    return len(wanted)
