"""Store damage helpers shared by the storage tests: break files byte by byte, as disks do.

Every helper changes bytes in place and returns what it did, so a failing test can say which
damage it was. Nothing here knows a store's internals beyond its documented file layout.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from runbench.records import Record, encode_records

NUL_LINE = b"\x00" * 40 + b"\n"
BINARY_GARBAGE = bytes(b for b in range(256) if b != 0x0A) + b"\n"


def orphan_segment(store_root: Path, records: Sequence[Record]) -> Path:
    """A write-ahead segment whose writer died before sealing it (nobody holds its lock)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    wal = store_root / "parquet" / "wal"
    wal.mkdir(parents=True, exist_ok=True)
    path = wal / f"seg-{stamp}-999999-{uuid.uuid4().hex[:12]}.jsonl"
    path.write_bytes(encode_records(records))
    return path


def invalid_utf8_line(line: bytes) -> bytes:
    """The line with one byte inside its model name replaced by 0xff (invalid UTF-8)."""
    at = line.index(b'"model":"') + len(b'"model":"')
    return line[:at] + b"\xff" + line[at + 1 :]


def insert_line(path: Path, after_line: int, new: bytes) -> None:
    """Insert ``new`` (a whole line with its newline) after line ``after_line`` (1-based)."""
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(after_line, new)
    path.write_bytes(b"".join(lines))


def replace_line(path: Path, number: int, new: bytes) -> bytes:
    """Replace line ``number`` (1-based, newline kept) with ``new``; returns the old line."""
    lines = path.read_bytes().splitlines(keepends=True)
    old = lines[number - 1]
    lines[number - 1] = new if new.endswith(b"\n") else new + b"\n"
    path.write_bytes(b"".join(lines))
    return old


def damage_column_chunk(part: Path, column: str) -> int:
    """Overwrite 16 bytes in the middle of ``column``'s first data page; returns the offset."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(part).metadata
    row_group = metadata.row_group(0)
    for index in range(row_group.num_columns):
        chunk = row_group.column(index)
        if chunk.path_in_schema.split(".")[0] == column:
            offset = chunk.data_page_offset + chunk.total_compressed_size // 2
            with open(part, "r+b") as handle:
                handle.seek(offset)
                handle.write(b"\xde\xad\xbe\xef" * 4)
            return offset
    raise ValueError(f"no column {column} in {part}")


def random_damage(path: Path, rng: random.Random) -> str:
    """Flip, truncate or insert bytes at random places; returns a description of what it did."""
    data = bytearray(path.read_bytes())
    kind = rng.choice(("flip", "truncate", "insert", "nul", "flips"))
    if not data:
        kind = "insert"
    if kind == "flip":
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        what = f"flip at {at}"
    elif kind == "flips":
        spots = [rng.randrange(len(data)) for _ in range(rng.randint(2, 8))]
        for at in spots:
            data[at] = rng.randrange(256)
        what = f"bytes set at {spots}"
    elif kind == "truncate":
        at = rng.randrange(len(data))
        del data[at:]
        what = f"truncated at {at}"
    elif kind == "nul":
        at = rng.randrange(len(data) + 1)
        data[at:at] = b"\x00" * rng.randint(1, 64)
        what = f"NUL bytes inserted at {at}"
    else:
        at = rng.randrange(len(data) + 1)
        chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        data[at:at] = chunk
        what = f"{len(chunk)} random bytes inserted at {at}"
    path.write_bytes(bytes(data))
    return f"{path.name}: {what}"


def complete_lines(path: Path) -> set[bytes]:
    """The newline-terminated lines of a file (a torn last line is not one)."""
    if not path.exists():
        return set()
    return set(path.read_bytes().split(b"\n")[:-1])
