"""Moving records from one store to another: streaming, idempotent, verified.

The system runbench replaces had six JSON→Parquet converters, each of which lost or invented
data. This one copies rows, never reinterprets them: a row's identity is (test_id, attempt,
run_id), a row already in the destination is not copied again, and after copying every source
row is looked up in the destination and its content digest compared. Memory holds one batch of
rows plus one key and one 64-bit digest per row, never the whole store.

Digests are computed from each value in its record type (never from a pandas conversion, whose
dtypes depend on the rest of the batch), so identical rows verify in every batch and both
stores; when verification fails, the first rows are named by test id and differing field.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.errors import MigrationError
from runbench.records import FIELD_NAMES, FIELDS, KEY_FIELDS, arrow_schema
from runbench.storage import Store

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

_FLUSH_ROWS = 131_072
_NAMED_ROWS = 3
_KINDS = {spec.name: spec.kind for spec in FIELDS}


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


_NULL_DIGEST = 0x6E756C6C5F726F77  # stands for a null value; any value's digest is mixed first
_GOLDEN = 0x9E3779B97F4A7C15


def _mixed(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser over uint64s: spreads every input bit over the whole word."""
    import numpy as np

    with np.errstate(over="ignore"):
        mixed = values ^ (values >> np.uint64(30))
        mixed = mixed * np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(27)
        mixed = mixed * np.uint64(0x94D049BB133111EB)
        mixed ^= mixed >> np.uint64(31)
    return mixed


def _column_digests(column: Any, kind: str) -> np.ndarray:
    """A 64-bit digest per value of a column of the record schema, from the typed value alone.

    The digest used to come from ``to_pandas``, where a nullable integer column is float64 in a
    batch holding a null and int64 in one holding none, so one row hashed differently beside
    different neighbours. Here every value is read in its record type whatever the batch holds:
    integers, booleans and timestamps (microseconds) as int64, floats by their IEEE bits,
    strings by their UTF-8 bytes, lists by the length-prefixed text of their items; a null is a
    fixed digest of its own.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    if kind == "string":
        text = pc.fill_null(column, "").to_numpy(zero_copy_only=False)
        digests = pd.util.hash_array(np.asarray(text, dtype=object))
    elif kind == "list<string>":
        array: Any = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        items: Any = pc.list_flatten(array)
        length = pc.cast(pc.utf8_length(items), pa.string())
        tagged = pc.binary_join_element_wise(length, pc.fill_null(items, ""), ":")
        offsets = pc.subtract(array.offsets, array.offsets[0])
        joined: Any = pc.binary_join(pa.ListArray.from_arrays(offsets, tagged), ";")
        text = pc.fill_null(joined, "").to_numpy(zero_copy_only=False)
        digests = pd.util.hash_array(np.asarray(text, dtype=object))
        counts = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
        with np.errstate(over="ignore"):
            digests = _mixed(digests ^ counts.astype(np.uint64))  # tells [] from [""]
    else:
        if kind == "float64":
            raw = pc.fill_null(column, 0.0).to_numpy(zero_copy_only=False).view(np.uint64)
        else:
            as_int = pc.cast(column, pa.int64())
            raw = pc.fill_null(as_int, 0).to_numpy(zero_copy_only=False).view(np.uint64)
        digests = _mixed(raw)
    return np.where(valid, digests, np.uint64(_NULL_DIGEST))


def _digests(table: pa.Table, names: Sequence[str]) -> np.ndarray:
    """A 64-bit digest per row over the named columns of a table already in record schema."""
    import numpy as np

    combined = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in names:
            values = _column_digests(table.column(name), _KINDS[name])
            combined = _mixed(combined * np.uint64(_GOLDEN) + values)
    return combined


def _in_record_schema(table: pa.Table, names: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([arrow_schema().field(name) for name in names])
    return table.select(list(names)).cast(schema)


def row_hashes(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a 64-bit hash of its key (test_id, attempt, run_id) and of its full content.

    Both come from the canonical, typed record (``_column_digests``), so a row has the same
    digests in every batch and in both stores.
    """
    typed = _in_record_schema(table, FIELD_NAMES)
    return _digests(typed, KEY_FIELDS), _digests(typed, FIELD_NAMES)


def key_hashes(table: pa.Table) -> np.ndarray:
    """The key hashes of ``row_hashes`` from the key columns alone."""
    return _digests(_in_record_schema(table, KEY_FIELDS), KEY_FIELDS)


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
            source, destination, np.concatenate(expected_keys), np.concatenate(expected_digests)
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


def _verify(source: Store, destination: Store, keys: np.ndarray, digests: np.ndarray) -> int:
    """Every source (key, digest) pair is in the destination; returns the rows checked.

    Raises:
        MigrationError: naming the first rows that are missing or differ, by test id and field.
    """
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
    wanted = np.rec.fromarrays([keys, digests], names="key,digest")  # type: ignore[call-overload]
    have = np.rec.fromarrays([stored, stored_digests], names="key,digest")  # type: ignore[call-overload]
    position = np.searchsorted(have, wanted)
    inside = position < len(have)
    matched = np.zeros(len(wanted), dtype=bool)
    matched[inside] = have[position[inside]] == wanted[inside]
    missing = int((~matched).sum())
    if missing:
        bad_keys = dict.fromkeys(keys[~matched].tolist())
        named = "; ".join(describe_differences(source, destination, list(bad_keys)[:_NAMED_ROWS]))
        raise MigrationError(
            f"verification failed: {missing} source rows are missing from {destination.path} or "
            f"differ there in content: {named}",
            hint="run 'runbench verify' on both stores; the source was not changed",
        )
    return len(wanted)


def describe_differences(source: Store, destination: Store, key_digests: list[int]) -> list[str]:
    """Name, for rows whose key digest is given, what differs: the test id and each field.

    Only called when verification failed, so a second read of both stores costs nothing in the
    common case; it reads the whole source once and the destination for those test ids only.
    """
    wanted = set(key_digests)
    source_rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for batch in source.scan_batches():
        keys = key_hashes(batch)
        hits = [index for index, key in enumerate(keys.tolist()) if key in wanted]
        for index in hits:
            row = batch.slice(index, 1).to_pylist()[0]
            source_rows.setdefault(_key_of(row), row)
    if not source_rows:
        return [f"{len(wanted)} row(s) no longer readable in the source"]
    test_ids = sorted({key[0] for key in source_rows})
    stored: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for batch in destination.scan_batches(filters={"test_id": test_ids}):
        for row in batch.to_pylist():
            stored.setdefault(_key_of(row), []).append(row)
    lines = []
    for key, row in sorted(source_rows.items()):
        label = f"test {key[0]} attempt {key[1]} run {key[2]}"
        candidates = stored.get(key)
        if not candidates:
            lines.append(f"{label} is missing")
            continue
        fields = [name for name in FIELD_NAMES if repr(row[name]) != repr(candidates[0][name])]
        shown = ", ".join(
            f"{name} {_short(row[name])} in the source, {_short(candidates[0][name])} there"
            for name in fields
        )
        lines.append(f"{label} differs: {shown or 'same values, different encoding'}")
    return lines


def _key_of(row: dict[str, Any]) -> tuple[str, int, str]:
    return (str(row["test_id"]), int(row["attempt"]), str(row["run_id"]))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
