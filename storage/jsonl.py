"""Reading JSON-lines record files in bounded chunks, separating good rows from damage.

Both stores write JSONL: the JSON store's ``records.jsonl`` and the Parquet store's write-ahead
segments. A reader never holds more than one chunk; it parses a chunk with Arrow's JSON reader
(fast, in C++) and only if that fails falls back to line-by-line parsing, so one corrupt line costs
one slow chunk and is named by its line number instead of hiding the file.

Bytes after the last newline are not damage by themselves: they are either an append still being
written or a line torn by a killed writer. The caller, who knows whether a writer can be active,
decides which (``JsonlReader.tail_bytes``).

Decoding is strict: a line must be UTF-8 (no replacement characters), one JSON object, without raw
control bytes, and a valid record. Arrow's reader is more lenient (it passes invalid UTF-8 through
and skips blank lines), so a chunk takes the fast path only when cheap byte checks show every line
is shaped like one of ours; anything else is judged line by line with Python's strict decoder, and
both paths accept exactly the same lines.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from runbench.errors import RecordError
from runbench.records import arrow_schema, rows_to_table, validate_table
from runbench.storage.base import Damage

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pyarrow as pa

CHUNK_BYTES = 16 * 1024 * 1024
# chunks parsed at once by a full read; as many as there are cores, a few ahead of the reader
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))
_ARROW_BLOCK_BYTES = 4 * 1024 * 1024
# Raw control bytes never occur in our JSON lines (the encoder escapes them); \n ends a line.
_CONTROL_BYTES = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
_CONTROL_AND_NEWLINE = bytes([*range(0x20), 0x7F])
_NEWLINE, _OPEN, _CLOSE = ord("\n"), ord("{"), ord("}")
_BACKSLASH, _U, _D = ord("\\"), ord("u"), ord("d")  # d | 0x20 == D | 0x20


class JsonlReader:
    """One pass over a JSONL file: iterate ``tables()``, then read ``damage`` and ``tail_bytes``."""

    def __init__(self, path: Path, *, chunk_bytes: int | None = None) -> None:
        self.path = path
        self.chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
        self.damage: list[Damage] = []
        self.rows = 0
        self.lines = 0
        self.tail_bytes = 0
        self.tail_offset = 0

    def tables(self) -> Iterator[pa.Table]:
        """Yield one validated table per chunk of complete lines, in file order (``parsed``).

        Raises:
            FileNotFoundError: the file does not exist (callers decide whether that is normal).
        """
        with open(self.path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            progress = Progress()
            chunks = complete_chunks(handle, self.chunk_bytes, progress)
            parallel = size > self.chunk_bytes
            for table in parsed(chunks, self.path, self.damage, parallel=parallel):
                self.rows += table.num_rows
                if table.num_rows:
                    yield table
        self.lines = progress.lines
        self.tail_bytes = progress.tail_bytes
        self.tail_offset = progress.offset

    def torn_tail(self) -> Damage:
        """The damage entry for bytes after the last newline, once known to be torn."""
        return Damage(
            self.path,
            "torn_line",
            f"{self.tail_bytes} bytes after the last complete line (a writer was killed mid-write)",
            line=self.lines + 1,
        )


@dataclass(slots=True)
class Progress:
    """How far ``complete_chunks`` has cut: bytes and lines of complete lines, bytes left over."""

    offset: int = 0
    lines: int = 0
    tail_bytes: int = 0


def complete_chunks(
    handle: BinaryIO, chunk_bytes: int, progress: Progress
) -> Iterator[tuple[bytes, int, int]]:
    """Cut what ``handle`` reads from its position into chunks of complete lines.

    Yields each chunk with its first line's number and its line count (numbered on from
    ``progress``, which follows the cutting); bytes after the last newline stay uncut and are
    counted in ``progress.tail_bytes``.
    """
    carry = b""
    while data := handle.read(chunk_bytes):
        buffer = carry + data if carry else data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            carry = buffer
            continue
        complete, carry = buffer[: cut + 1], buffer[cut + 1 :]
        lines = complete.count(b"\n")
        yield complete, progress.lines + 1, lines
        progress.offset += len(complete)
        progress.lines += lines
    progress.tail_bytes = len(carry)


def parsed(
    chunks: Iterator[tuple[bytes, int, int]],
    path: Path,
    damage: list[Damage],
    *,
    parallel: bool,
) -> Iterator[pa.Table]:
    """Each chunk parsed (``parse_chunk``), in order; ``parallel`` parses on threads.

    Chunks are then parsed on ``PARSE_THREADS`` threads (Arrow's JSON parser releases the GIL),
    a few ahead of the consumer, while this thread reads and cuts the next ones; each chunk's
    damage is kept apart and added to ``damage`` in file order as its table is yielded, so
    every damaged line is still named once, with its own line number.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not parallel or PARSE_THREADS == 1:
        for data, first_line, lines in chunks:
            yield parse_chunk(data, path, first_line, damage, lines)
        return
    pending: deque[tuple[Future[pa.Table], list[Damage]]] = deque()
    pool = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="jsonl-parse")
    try:
        for data, first_line, lines in chunks:
            own: list[Damage] = []
            job = pool.submit(parse_chunk, data, path, first_line, own, lines, use_threads=False)
            pending.append((job, own))
            if len(pending) > PARSE_THREADS:
                yield _collected(pending.popleft(), damage)
        while pending:
            yield _collected(pending.popleft(), damage)
    finally:
        for job, _ in pending:
            job.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _collected(entry: tuple[Future[pa.Table], list[Damage]], damage: list[Damage]) -> pa.Table:
    job, own = entry
    table = job.result()
    damage.extend(own)
    return table


def parse_chunk(
    data: bytes,
    path: Path,
    first_line: int,
    damage: list[Damage],
    lines: int | None = None,
    *,
    use_threads: bool = True,
) -> pa.Table:
    """Parse complete JSON lines into a validated table, recording bad lines in ``damage``.

    ``lines`` is the number of newlines in ``data`` when the caller has counted them already.
    ``use_threads=False`` keeps Arrow's parse on the calling thread, for callers that parse
    several chunks at once (its own threads would only add overhead then).
    """
    import pyarrow as pa
    import pyarrow.json as pajson

    lines = data.count(b"\n") if lines is None else lines
    if not _looks_clean(data, lines):
        return _parse_lines(data, path, first_line, damage)
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(block_size=_ARROW_BLOCK_BYTES, use_threads=use_threads),
            parse_options=pajson.ParseOptions(
                explicit_schema=arrow_schema(), unexpected_field_behavior="error"
            ),
        )
        if table.num_rows != lines:  # e.g. two objects on one line
            return _parse_lines(data, path, first_line, damage)
        table = table.select(arrow_schema().names).cast(arrow_schema())
        table.validate(full=True)
        validate_table(table)
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError, RecordError):
        return _parse_lines(data, path, first_line, damage)


def _looks_clean(data: bytes, lines: int) -> bool:
    """Cheap checks that every line is one strict-UTF-8 ``{...}`` without raw control bytes.

    Each check is one vectorised pass over the chunk (byte deletion, a search for newlines and
    backslashes, gathers beside them): a regular expression for the control bytes and substring
    searches for the line shape and escapes cost as long as Arrow's parse they guard.
    """
    import numpy as np

    if not data.startswith(b"{") or not data.endswith(b"\n"):
        return False
    if len(data.translate(None, _CONTROL_AND_NEWLINE)) != len(data) - lines:
        return False  # a control byte other than the newlines
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == _NEWLINE)
    if not (raw[newlines - 1] == _CLOSE).all() or not (raw[newlines[:-1] + 1] == _OPEN).all():
        return False  # a line that does not end with "}" or does not start with "{"
    slashes = np.flatnonzero(raw[:-2] == _BACKSLASH)
    escaped_d = (raw[slashes + 1] == _U) & ((raw[slashes + 2] | 0x20) == _D)
    if escaped_d.any():  # "\ud…" or "\uD…": an escaped surrogate decodes to no valid UTF-8
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """Decode one line strictly: the object, or None and why it is not a record line."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})"
    match = _CONTROL_BYTES.search(line)
    if match is not None:
        return None, f"raw control byte 0x{match.group()[0]:02x} at column {match.start() + 1}"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"not JSON ({error.msg} at column {error.colno})"
    except RecursionError:
        return None, "not JSON (nested too deeply)"
    if not isinstance(row, dict):
        return None, "not a JSON object"
    return row, ""


def _parse_lines(data: bytes, path: Path, first_line: int, damage: list[Damage]) -> pa.Table:
    """The slow path: find exactly which lines are bad, keep every good one."""
    rows: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    for number, line in enumerate(data.split(b"\n")[:-1], start=first_line):
        row, problem = decode_line(line)
        if row is None:
            damage.append(Damage(path, "corrupt_line", problem, line=number))
            continue
        rows.append(row)
        line_numbers.append(number)
    try:
        table = rows_to_table(rows)
        validate_table(table)
        return table
    except RecordError:
        pass
    good: list[dict[str, Any]] = []
    for row, number in zip(rows, line_numbers, strict=True):
        try:
            validate_table(rows_to_table([row]))
        except RecordError as error:
            damage.append(Damage(path, "invalid_record", error.message, line=number))
            continue
        good.append(row)
    return rows_to_table(good)
