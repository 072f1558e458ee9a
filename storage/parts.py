"""Sealed Parquet parts: how they are named, written, checked and opened.

A part is written to a temporary name, fsynced, and renamed to
``part-<time>-<uuid>-<crc32>.parquet``, where ``<crc32>`` is the CRC-32 of the whole file as
written. Every reader checks that checksum before it trusts a part, so a flipped bit anywhere (a
data page of a column this reader does not even select, the footer, a truncation) makes the part
unreadable for *every* reader alike: scan, done ids, status, planning and compaction skip the same
parts, and a damaged part's tests are not done. The checksum costs one sequential read of the file
(≈4 GB/s) and is remembered per open store for files that did not change.

Parts written before checksums (``part-<time>-<uuid>.parquet``) and foreign files are checked
by reading every column of every row group and validating the records, with the same result.

Nothing invalid is sealed: the table of a new part passes Arrow's full validation (UTF-8
included) and the record schema's rules before the first byte is written.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.errors import RecordError
from runbench.records import arrow_schema, conformed_table, is_readable_schema, upgrade_table
from runbench.storage.base import Damage
from runbench.storage.locking import fsync_dir

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

SOURCES_KEY = b"runbench.sources"
ROW_GROUP_ROWS = 65_536  # bounds the memory of a read or a merge, whatever a part's size
_CHECKSUMMED = re.compile(r"^part-\d{8}T\d{12}-[0-9a-f]{12}-([0-9a-f]{8})\.parquet$")
_READ_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class Part:
    """An open, checked part; ``sources`` are the files it was made from (superseded by it)."""

    path: Path
    file: pq.ParquetFile
    sources: tuple[str, ...]
    rows: int


def timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}"


def file_checksum(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BYTES):
            crc = zlib.crc32(block, crc)
    return crc


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def part_schema(sources: Sequence[str]) -> pa.Schema:
    return arrow_schema().with_metadata({SOURCES_KEY: json.dumps(list(sources)).encode()})


def seal(folder: Path, temporary: Path) -> Path:
    """Sync a fully written temporary part and rename it to its checksummed final name."""
    fsync_file(temporary)
    name = f"part-{timestamp()}-{uuid.uuid4().hex[:12]}-{file_checksum(temporary):08x}.parquet"
    final = folder / name
    os.rename(temporary, final)
    fsync_dir(folder)
    return final


def temporary_part(folder: Path) -> Path:
    """A temporary name that starts with the writer's pid, so compaction can clear dead ones."""
    return folder / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"


def write_part(
    folder: Path, table: pa.Table, sources: Sequence[str], *, is_checked: bool = False
) -> Path:
    """Validate (unless ``is_checked`` says ``checked_table`` ran), write and seal one part.

    On any failure no temporary is left.

    Raises:
        RecordError: the table is not valid records (nothing is written).
        OSError: the disk refused the write (the temporary is removed).
    """
    import pyarrow.parquet as pq

    if not is_checked:
        table = conformed_table(table)
    schema = part_schema(sources)
    temporary = temporary_part(folder)
    try:
        with pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
            writer.write_table(table.cast(schema), row_group_size=ROW_GROUP_ROWS)
        return seal(folder, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_merged(
    folder: Path,
    paths: Sequence[Path],
    sources: Sequence[str],
    keep: Callable[[pa.Table], pa.Table] | None = None,
) -> Path:
    """Merge the parts at ``paths`` into one sealed part in ``folder`` naming ``sources``.

    One row group at a time, so memory stays bounded whatever the parts' sizes; on any failure
    no temporary is left. ``keep``, when given, filters each row group (the object store leaves
    out rows of revoked claims).
    """
    import pyarrow.parquet as pq

    schema = part_schema(sources)
    temporary = temporary_part(folder)
    try:
        with pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
            for path in paths:
                source = pq.ParquetFile(path)
                try:
                    for index in range(source.num_row_groups):
                        row_group = upgrade_table(source.read_row_group(index)).cast(schema)
                        if keep is not None:
                            row_group = keep(row_group)
                        writer.write_table(row_group, row_group_size=ROW_GROUP_ROWS)
                finally:
                    source.close()
        return seal(folder, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class PartChecker:
    """Checks parts (checksum, or a full read for unchecksummed ones), remembering good files."""

    def __init__(self) -> None:
        self._good: dict[Path, tuple[int, int, int]] = {}

    def problem(self, path: Path) -> str | None:
        """Why the part at ``path`` cannot be trusted, or None when it can.

        Raises:
            FileNotFoundError: the part vanished (compaction removed it).
        """
        stat = os.stat(path)
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._good.get(path) == identity:
            return None
        match = _CHECKSUMMED.match(path.name)
        if match is not None:
            actual = file_checksum(path)
            if actual != int(match.group(1), 16):
                return f"checksum mismatch (file says {match.group(1)}, bytes give {actual:08x})"
        else:
            problem = _full_read_problem(path)
            if problem is not None:
                return problem
        self._good[path] = identity
        return None


def _full_read_problem(path: Path) -> str | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as error:
        return short(error)
    try:
        if not is_readable_schema(handle.schema_arrow.remove_metadata()):
            return None  # named as a schema mismatch when opened
        for index in range(handle.num_row_groups):
            conformed_table(upgrade_table(handle.read_row_group(index)))
    except (pa.ArrowException, OSError, RecordError) as error:
        return short(error)
    finally:
        handle.close()
    return None


def open_part(path: Path, checker: PartChecker) -> Part | Damage:
    """Open a checked part, or say what is wrong with it.

    Raises:
        FileNotFoundError: the part vanished before it was opened (compaction ran).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    problem = checker.problem(path)
    if problem is not None:
        return Damage(path, "unreadable_part", problem)
    try:
        handle = pq.ParquetFile(path)
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as error:
        return Damage(path, "unreadable_part", short(error))
    schema = handle.schema_arrow
    if not is_readable_schema(schema.remove_metadata()):  # parts before added fields read too
        handle.close()
        return Damage(path, "schema_mismatch", "columns or types differ from the record schema")
    raw_sources = (schema.metadata or {}).get(SOURCES_KEY, b"[]")
    try:
        sources = tuple(str(name) for name in json.loads(raw_sources))
    except (ValueError, TypeError) as error:
        handle.close()
        return Damage(path, "unreadable_part", f"bad sources metadata: {short(error)}")
    return Part(path, handle, sources, handle.metadata.num_rows)


def short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]
