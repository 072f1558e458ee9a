"""Reading a JSON-lines file from a byte offset: the rows a store gained since a known position.

Both stores append JSON lines (the JSON store's ``records.jsonl``, the Parquet store's
write-ahead segments), so "what was appended since" is the complete lines after an offset.
Lines are decoded by the same strict, threaded ``parsed`` every full read uses; bytes after the last
newline (an append still being written, or a torn line a later writer will end) are left for
the next read, exactly as a full read leaves them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.storage import jsonl
from runbench.storage.base import Damage
from runbench.storage.jsonl import Progress, complete_chunks, parsed

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class LineOffset:
    """Where the complete lines read so far end: a byte offset and the lines before it."""

    offset: int = 0
    lines: int = 0


def lines_since(
    handle: io.BufferedIOBase,
    path: Path,
    start: LineOffset,
    columns: list[str],
    damage: list[Damage],
) -> Generator[pa.Table, None, LineOffset]:
    """Yield validated tables (``columns`` only) of the complete lines after ``start``.

    Returns the offset after the last complete line. Damaged lines are named in ``damage``
    (with their line numbers) and skipped.
    """
    handle.seek(start.offset)
    progress = Progress(start.offset, start.lines)
    chunk_bytes = jsonl.CHUNK_BYTES
    parallel = os.fstat(handle.fileno()).st_size - start.offset > chunk_bytes
    chunks = complete_chunks(handle, chunk_bytes, progress, parallel=parallel)
    for table in parsed(chunks, path, damage, progress, parallel=parallel):
        if table.num_rows:
            yield table.select(columns)
    return LineOffset(progress.offset, progress.lines)


@dataclass(frozen=True, slots=True)
class FilePosition:
    """A position in one append-only file: which file (device, inode) and how far."""

    device: int
    inode: int
    at: LineOffset


def file_since(
    path: Path, position: object | None, columns: list[str], damage: list[Damage]
) -> Generator[pa.Table, None, FilePosition | None]:
    """The complete lines of ``path`` after ``position``; from the start if it is another file.

    A file replaced since (``compact`` writes a new one) is read again from its beginning.
    Returns ``None`` when the file does not exist yet.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 -- closed below, around the yields
    except FileNotFoundError:
        return None
    with handle:
        stat = os.fstat(handle.fileno())
        start = LineOffset()
        if (
            isinstance(position, FilePosition)
            and (position.device, position.inode) == (stat.st_dev, stat.st_ino)
            and position.at.offset <= stat.st_size
        ):
            start = position.at
        end = yield from lines_since(handle, path, start, columns, damage)
    return FilePosition(stat.st_dev, stat.st_ino, end)
