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
from typing import TYPE_CHECKING, Any

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


# bytes before a position that identify the file it was taken in (see ``FilePosition``)
FINGERPRINT_BYTES = 4096


@dataclass(frozen=True, slots=True)
class FilePosition:
    """A position in one append-only file: which file (device, inode) and how far.

    ``fingerprint`` hashes the bytes just before the offset. The inode alone does not name a
    file: once a file is replaced (``compact``), its inode is free, and a later replacement
    may get it back with other bytes before the offset (lines moved aside), so rows would be
    skipped. An empty fingerprint (a position saved before it existed) is not checked.
    """

    device: int
    inode: int
    at: LineOffset
    fingerprint: str = ""

    def to_json(self) -> dict[str, int | str]:
        """The position as the derived files keep it (``known_snapshot``, ``summary_state``)."""
        return {
            "device": self.device,
            "inode": self.inode,
            "offset": self.at.offset,
            "lines": self.at.lines,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: Any) -> FilePosition:
        """The inverse of ``to_json``; a position saved without a fingerprint has none.

        Raises:
            KeyError, ValueError, TypeError: not a position ``to_json`` wrote.
        """
        return cls(
            int(data["device"]),
            int(data["inode"]),
            LineOffset(int(data["offset"]), int(data["lines"])),
            str(data.get("fingerprint", "")),
        )


def fingerprint_at(handle: io.BufferedIOBase, offset: int) -> str:
    """The hash of the ``FINGERPRINT_BYTES`` (or fewer) bytes before ``offset`` in ``handle``.

    Those bytes are complete lines, which an append-only file never changes.
    """
    import hashlib

    start = max(0, offset - FINGERPRINT_BYTES)
    handle.seek(start)
    return hashlib.blake2b(handle.read(offset - start), digest_size=16).hexdigest()


def follows(handle: io.BufferedIOBase, position: object | None) -> bool:
    """Whether ``position`` was taken in the file open as ``handle`` (and not past its end)."""
    if not isinstance(position, FilePosition):
        return False
    stat = os.fstat(handle.fileno())
    if (position.device, position.inode) != (stat.st_dev, stat.st_ino):
        return False
    if position.at.offset > stat.st_size:
        return False
    return not position.fingerprint or (
        fingerprint_at(handle, position.at.offset) == position.fingerprint
    )


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
        if isinstance(position, FilePosition) and follows(handle, position):
            start = position.at
        end = yield from lines_since(handle, path, start, columns, damage)
        fingerprint = fingerprint_at(handle, end.offset)
    return FilePosition(stat.st_dev, stat.st_ino, end, fingerprint)
