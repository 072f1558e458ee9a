"""The rows a Parquet store gained since a known position, read without re-reading the rest.

A position is the set of part files already read and, per write-ahead segment, the offset of the
complete lines already read. The next read takes the segments' new lines (listed first, as every
reader does: a segment sealed meanwhile has its part in place when parts are listed) and the
parts not seen before, except those that only repackage what was read: a part whose sources
are all parts already seen (a compaction's merge), or one that a new part names as its source.
A part made from a segment is read again in full (the segment may have grown after its last
read): rows delivered twice are harmless to the idempotent readers ``RowsSince`` serves, and
such parts hold at most one segment's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.errors import StoreError
from runbench.records import FIELDS, upgrade_table
from runbench.storage.base import Damage
from runbench.storage.parts import ROW_GROUP_ROWS, Part, PartChecker, open_part, short
from runbench.storage.since import LineOffset, lines_since

if TYPE_CHECKING:
    import pyarrow as pa

_RETRIES = 20
# text columns whose values are ids or prose, one per row or nearly: never dictionary-encoded
FREE_TEXT = frozenset({"test_id", "run_id", "task_id", "error_message", "transcript"})
# the other text columns (model, status, prompt type, …) hold a few values each: rows since are
# delivered with them dictionary-encoded (pandas groups them by small integer codes)
ENCODED = frozenset(
    spec.name for spec in FIELDS if spec.kind == "string" and spec.name not in FREE_TEXT
)


@dataclass(frozen=True, slots=True)
class ParquetPosition:
    """Parts read so far, and how far each live segment was read."""

    parts: frozenset[str] = frozenset()
    segments: Mapping[str, LineOffset] = field(default_factory=dict)


def parquet_since(
    segment_paths: list[Path],
    list_parts: Callable[[], list[Path]],
    checker: PartChecker,
    position: object | None,
    columns: list[str],
    damage: list[Damage],
) -> Generator[pa.Table, None, ParquetPosition]:
    """Yield the rows after ``position``; return the position after them.

    Raises:
        StoreError: parts kept vanishing (compactions) for every one of many listings.
    """
    known = position if isinstance(position, ParquetPosition) else ParquetPosition()
    segments: dict[str, LineOffset] = {}
    fresh: dict[str, list[pa.Table]] = {}  # each segment's new lines, held until parts are listed
    for path in segment_paths:
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- closed below
        except FileNotFoundError:
            continue  # sealed meanwhile: its part is listed below
        with handle:
            start = known.segments.get(path.name, LineOffset())
            lines = lines_since(handle, path, start, columns, damage)
            fresh[path.name] = []
            while True:
                try:
                    fresh[path.name].append(encoded(next(lines)))
                except StopIteration as end:
                    segments[path.name] = end.value
                    break
    seen = set(known.parts)
    for _ in range(_RETRIES):
        opened, vanished = _open_new(list_parts(), seen, checker, damage)
        try:
            # a segment sealed since its lines were read: its part holds them (read below)
            for name in {source for part in opened for source in part.sources}:
                fresh.pop(name, None)
            for tables in fresh.values():
                yield from tables
            fresh = {}
            for part in _to_read(opened, seen):
                yield from _read_part(part, columns)
        finally:
            for part in opened:
                part.file.close()
        seen.update(part.path.name for part in opened)
        if not vanished:
            return ParquetPosition(frozenset(seen), segments)
    raise StoreError(
        "could not read the parts added to the store: they kept changing while reading",
        hint="retry when the running compaction has finished",
    )


def _open_new(
    paths: list[Path], seen: set[str], checker: PartChecker, damage: list[Damage]
) -> tuple[list[Part], bool]:
    """Open the parts not seen yet; damaged ones are named once and counted as seen."""
    opened: list[Part] = []
    vanished = False
    for path in paths:
        if path.name in seen:
            continue
        try:
            part = open_part(path, checker)
        except FileNotFoundError:
            vanished = True  # merged by a compaction: list again to find the merged part
            continue
        except OSError as error:
            part = Damage(path, "unreadable_part", short(error))
        if isinstance(part, Damage):
            damage.append(part)
            seen.add(path.name)
        else:
            opened.append(part)
    return opened, vanished


def _to_read(opened: list[Part], seen: set[str]) -> list[Part]:
    """The new parts whose rows were not read already (see the module's docstring)."""
    superseded = {name for part in opened for name in part.sources}
    return [
        part
        for part in opened
        if part.path.name not in superseded
        and not (part.sources and all(name in seen for name in part.sources))
    ]


def _read_part(part: Part, columns: list[str]) -> Generator[pa.Table, None, None]:
    """The part's rows, its low-cardinality text read as dictionaries straight from the file.

    Parquet stores those columns dictionary-encoded already: reading them so (``read_dictionary``)
    skips decoding a million strings that the analysis would only encode again. The part is
    opened again for that; if a compaction removed it since it was opened, the open handle is
    read instead and the columns encoded after.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    present = [name for name in columns if name in part.file.schema_arrow.names]
    wanted = [name for name in present if name in ENCODED]
    try:
        source = pq.ParquetFile(part.path, metadata=part.file.metadata, read_dictionary=wanted)
    except FileNotFoundError:
        source = part.file
    try:
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS, columns=present):
            yield encoded(upgrade_table(pa.Table.from_batches([batch]), columns))
    finally:
        if source is not part.file:
            source.close()


def encoded(table: pa.Table) -> pa.Table:
    """``table`` with its ``ENCODED`` columns dictionary-encoded (those read so are kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in ENCODED and pa.types.is_string(column.type):
            column = pc.dictionary_encode(column.combine_chunks())
        columns.append(column)
    return pa.table(columns, names=table.column_names)
