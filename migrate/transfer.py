"""Moving records from one store to another: streaming, idempotent, verified.

The system runbench replaces had six JSON→Parquet converters, each of which lost or invented
data. This one copies rows, never reinterprets them: a row's identity is (test_id, attempt,
run_id), a row already in the destination is not copied again, and after copying every source
row is looked up in the destination and its content digest compared. Memory holds one batch of
rows plus one key and one 64-bit digest per row, never the whole store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.storage import Store
from runbench.storage.base import key_strings

from runbench.errors import MigrationError
from runbench.records import KEY_FIELDS, arrow_schema

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

_FLUSH_ROWS = 250_000
_SHOWN_MISMATCHES = 3


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


def row_digests(table: pa.Table) -> np.ndarray:
    """A 64-bit digest of each row's full content, equal for equal rows in either store."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.select(arrow_schema().names).cast(arrow_schema())
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_list(column.type):
            # the separator cannot occur in a tool name; the count tells [] from [""]
            joined = pc.binary_join(column, "\x1f")
            column = pc.binary_join_element_wise(
                pc.cast(pc.list_value_length(column), pa.string()), joined, ":"
            )
        columns[name] = column
    frame = pa.table(columns).to_pandas()
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def migrate_store(source: Store, destination: Store, *, dry_run: bool = False) -> MigrationReport:
    """Copy every row of ``source`` that ``destination`` lacks, then verify the destination.

    Raises:
        MigrationError: after copying, a source row is missing from the destination or differs.
    """
    import pyarrow as pa

    started = time.perf_counter()
    present: set[str] = set()
    for batch in destination.scan_batches(list(KEY_FIELDS)):
        present.update(key_strings(batch).to_pylist())
    expected: dict[str, int] = {}
    source_rows = already = duplicates = copied = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    for batch in source.scan_batches():
        keys = key_strings(batch).to_pylist()
        digests = row_digests(batch)
        keep = []
        for key, digest in zip(keys, digests.tolist(), strict=True):
            if key in expected:
                duplicates += 1
                keep.append(False)
                continue
            expected[key] = digest
            keep.append(key not in present)
            already += key in present
        source_rows += len(keys)
        new_rows = batch.filter(pa.array(keep, type=pa.bool_()))
        if dry_run or not new_rows.num_rows:
            continue
        pending.append(new_rows)
        pending_rows += new_rows.num_rows
        if pending_rows >= _FLUSH_ROWS:
            copied += _flush(destination, pending)
            pending, pending_rows = [], 0
    if pending:
        copied += _flush(destination, pending)
    verified = 0 if dry_run else _verify(destination, expected)
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


def _verify(destination: Store, expected: dict[str, int]) -> int:
    """Every source key is in the destination with the same content digest."""
    found: dict[str, bool] = {}
    for batch in destination.scan_batches():
        keys = key_strings(batch).to_pylist()
        for key, digest in zip(keys, row_digests(batch).tolist(), strict=True):
            wanted = expected.get(key)
            if wanted is not None:
                found[key] = found.get(key, False) or wanted == digest
    missing = [key for key in expected if key not in found]
    differing = [key for key, same in found.items() if not same]
    if missing or differing:
        shown = ", ".join((missing + differing)[:_SHOWN_MISMATCHES])
        raise MigrationError(
            f"verification failed: {len(missing)} source rows missing and {len(differing)} "
            f"differing in {destination.path} (e.g. {shown})",
            hint="run 'runbench verify' on both stores; the source was not changed",
        )
    return len(found)
