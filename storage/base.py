"""The ``Store`` protocol both stores implement, and the reports they return.

Stores know records and files, nothing of clients or runners (test_layout.py). Every read returns
Arrow tables with the record schema, so analysis code never knows which store it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from runbench.errors import UsageError
from runbench.records import FIELD_NAMES, KEY_FIELDS, Record

if TYPE_CHECKING:
    import pyarrow as pa

    from runbench.storage.stored import KnownView

log = logging.getLogger("runbench.storage")

DamageKind = Literal[
    "torn_line",
    "corrupt_line",
    "invalid_record",
    "unreadable_part",
    "schema_mismatch",
    "orphan_segment",
]
FilterValue = str | int | float | bool | Sequence[str | int | float | bool]
Filters = Mapping[str, FilterValue]
JsonObject = dict[str, Any]  # raw JSON (a manifest, a transcript): its shape is the writer's


@dataclass(frozen=True, slots=True)
class Damage:
    """One damaged piece of a store, named precisely enough to find it by hand."""

    path: Path
    kind: DamageKind
    detail: str
    line: int | None = None

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found: rows readable, files looked at, damage, and harmless notes."""

    format: str
    root: Path
    rows: int
    files: int
    damage: tuple[Damage, ...]
    notes: tuple[str, ...] = ()

    @property
    def is_clean(self) -> bool:
        return not self.damage


@dataclass(frozen=True, slots=True)
class CompactReport:
    """What ``compact`` did; all counts are files except ``rows``."""

    format: str
    parts_before: int = 0
    parts_after: int = 0
    segments_sealed: int = 0
    superseded_removed: int = 0
    temporary_removed: int = 0
    quarantined: int = 0
    rows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


class RowsSince:
    """The rows a store gained after a position, and the position after them.

    ``Store.rows_since(position)`` returns one; iterate it to the end, then ``position`` is
    where the next call should start. The position is the store's own opaque value (JSON: the
    file's identity and the byte offset after its last complete line; Parquet: the parts seen
    and each write-ahead segment's offset); ``None`` means "from the beginning", as does a
    position the store no longer recognises (e.g. after ``compact`` replaced a file). A row may
    be delivered again after such a reset or when a segment is sealed into a part, so readers
    must fold rows idempotently (sets, maxima). Decoding is as strict as ``scan``'s; damaged
    lines and parts are skipped with a warning. Text columns may come dictionary-encoded (the
    Parquet store reads them so, to keep a million rows small): compare values, not types.
    """

    def __init__(self, batches: Generator[pa.Table, None, object]) -> None:
        self._batches = batches
        self.position: object | None = None

    def __iter__(self) -> Iterator[pa.Table]:
        self.position = yield from self._batches


class Store(Protocol):
    """A cumulative, append-only result store that many processes may write at once.

    Guarantees (ARCHITECTURE.md): durable on return from ``append``; no loss or duplication under
    concurrent writers; no in-place rewrite; damage reported by ``verify`` and skipped by readers.

    Beside rows, a store keeps what belongs to its runs (``storage/services.py``): test claims
    with leases, so concurrent runs never run one test at once; saved transcripts; and one
    manifest per run. Every method that writes raises ``StoreError`` (one line) when the disk
    refuses, after undoing its partial write.
    """

    format: str
    root: Path
    path: Path

    def append(self, records: Sequence[Record]) -> None: ...

    def append_table(self, table: pa.Table) -> None: ...

    def scan(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> pa.Table: ...

    def scan_batches(
        self, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> Iterator[pa.Table]: ...

    def done_ids(self, filters: Filters | None = None) -> set[str]: ...

    # the rows appended after ``position`` (``RowsSince``): what keeps claims' done ids current
    def rows_since(
        self, position: object | None, columns: Sequence[str] | None = None
    ) -> RowsSince: ...

    # done / errored / attempts of every test, read in full once per open store, then kept
    # current through ``rows_since`` (``stored.KnownTests``); planning and claims share it
    def known_tests(self) -> KnownView: ...

    def verify(self) -> VerifyReport: ...

    def compact(self) -> CompactReport: ...

    def close(self) -> None: ...

    def check_writable(self) -> None: ...

    # the command is stopping (SIGINT/SIGTERM, --max-runtime): from now on no request to a
    # remote store waits more than grace_s (plus its body's transfer); local stores: nothing
    def hurry(self, grace_s: float) -> None: ...

    def claim(self, test_ids: Sequence[str], owner: str, lease_s: float) -> dict[str, int]: ...

    def renew(self, owner: str) -> set[str]: ...

    def release(self, owner: str, test_ids: Sequence[str] | None = None) -> None: ...

    # fencing: append only the records whose test ``owner`` still holds (with that attempt),
    # in one critical section with the check and the release; returns the records refused
    def append_held(self, records: Sequence[Record], owner: str) -> list[Record]: ...

    def write_transcript(self, run_id: str, name: str, payload: bytes | JsonObject) -> str: ...

    def read_transcript(self, relative_path: str) -> JsonObject: ...

    def write_manifest(self, manifest: JsonObject) -> None: ...

    def manifest(self, run_id: str) -> JsonObject | None: ...

    def manifests(self) -> list[JsonObject]: ...

    def claimed(self) -> dict[str, str]: ...


def check_columns(columns: Sequence[str] | None) -> list[str]:
    """Validate a column selection; ``None`` means every field.

    Raises:
        UsageError: a column is not a record field.
    """
    if columns is None:
        return list(FIELD_NAMES)
    unknown = [name for name in columns if name not in FIELD_NAMES]
    if unknown:
        raise UsageError(f"unknown column '{unknown[0]}'; columns are: {', '.join(FIELD_NAMES)}")
    return list(columns)


def apply_filters(table: pa.Table, filters: Filters | None) -> pa.Table:
    """Keep rows whose columns equal the filter value, or are in the filter's list of values."""
    if not filters:
        return table
    import pyarrow as pa
    import pyarrow.compute as pc

    check_columns(list(filters))
    mask: Any = None  # a boolean array once the first filter is applied
    for name, wanted in filters.items():
        column = table.column(name)
        if isinstance(wanted, str | int | float | bool):
            condition = pc.equal(column, pa.scalar(wanted, type=column.type))
        else:
            condition = pc.is_in(column, value_set=pa.array(list(wanted), type=column.type))
        mask = condition if mask is None else pc.and_(mask, condition)
    return table.filter(pc.fill_null(mask, False))


def columns_needed(columns: list[str], filters: Filters | None) -> list[str]:
    """The selected columns plus those the filters read (dropped again after filtering)."""
    extra = [name for name in (filters or {}) if name not in columns]
    return columns + extra


def project(table: pa.Table, columns: list[str], filters: Filters | None) -> pa.Table:
    """Filter, then keep only the selected columns in the asked order."""
    return apply_filters(table, filters).select(columns)


def report_skipped(where: Path, damage: Sequence[Damage]) -> None:
    """Log one warning per read for all the damage it skipped (``verify`` lists every piece)."""
    if not damage:
        return
    shown = "; ".join(item.describe() for item in damage[:3])
    more = f" and {len(damage) - 3} more" if len(damage) > 3 else ""
    log.warning(
        "skipped %d damaged piece(s) of the store %s: %s%s (run `runbench verify` for the "
        "list, `runbench compact` to move damaged lines aside)",
        len(damage),
        where,
        shown,
        more,
    )


def empty_table(columns: list[str]) -> pa.Table:
    from runbench.records import arrow_schema

    schema = arrow_schema()
    return schema.empty_table().select(columns)


def key_strings(table: pa.Table) -> pa.Array:
    """One string per row, ``test_id|attempt|run_id``: the identity of a stored row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts: list[Any] = [table.column(name).cast(pa.string()) for name in KEY_FIELDS]
    return pc.binary_join_element_wise(*parts, "|").combine_chunks()
