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

import dataclasses
import io
import json
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.errors import RecordError
from runbench.records import arrow_schema, rows_to_table, validate_table
from runbench.storage.base import Damage

if TYPE_CHECKING:
    from concurrent.futures import Future

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

CHUNK_BYTES = 16 * 1024 * 1024


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system has one).

    Parse threads beyond them only take turns on a core and evict each other's cache: pinned to
    one core, a 1M-row read took 6.45 s CPU on two threads and 6.0 s on one.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# chunks parsed at once by a full read; as many as there are usable cores, a few ahead of the reader
PARSE_THREADS = max(1, min(4, _usable_cores()))
_ARROW_BLOCK_BYTES = 4 * 1024 * 1024
_MIN_READ_BYTES = 64 * 1024
_SCAN_BYTES = 1024 * 1024
# Raw control bytes never occur in our JSON lines (the encoder escapes them); \n ends a line.
_CONTROL_BYTES = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
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
            parallel = size > self.chunk_bytes
            chunks = complete_chunks(handle, self.chunk_bytes, progress, parallel=parallel)
            for table in parsed(chunks, self.path, self.damage, progress, parallel=parallel):
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
    """How far a read has come: bytes cut into chunks, lines parsed, bytes left over.

    ``offset`` follows the cutting (``complete_chunks``), ``lines`` the parsing (``parsed``),
    so the two agree once the read is done.
    """

    offset: int = 0
    lines: int = 0
    tail_bytes: int = 0


# complete lines: the first ``size`` bytes of a buffer
Chunk = tuple[bytes | bytearray, int]


def complete_chunks(
    handle: io.BufferedIOBase, chunk_bytes: int, progress: Progress, *, parallel: bool = False
) -> Iterator[Chunk]:
    """Cut what ``handle`` reads from its position into chunks of complete lines.

    Each chunk is the start of one of a few read buffers used in turn, valid until as many more
    chunks have been cut as ``parsed`` keeps in flight (``_buffers``): reading into the same
    memory instead of a new bytes object per read (and two more for the carried-over line and
    the cut) spares a copy and the kernel's zeroing of fresh pages for every byte read, about
    a second of CPU per million rows. Arrow's parse copies what it keeps, so no table refers
    to a buffer. Bytes after the last newline stay uncut and are counted in
    ``progress.tail_bytes``; ``progress.offset`` counts the bytes cut.
    """
    remaining = max(os.fstat(handle.fileno()).st_size - handle.tell(), 0)
    capacity = min(chunk_bytes, max(remaining + 1, _MIN_READ_BYTES))
    ring: list[bytearray] = []
    slot = 0
    carry = b""  # the start of a line the last read cut through
    while True:
        if slot == len(ring):
            ring.append(bytearray(capacity))
        if len(ring[slot]) - len(carry) < capacity // 2 + 1:  # a line longer than a buffer
            ring[slot] = bytearray(len(carry) + capacity)
        view = memoryview(ring[slot])
        view[: len(carry)] = carry
        read = handle.readinto(view[len(carry) :])
        if not read:
            break
        filled = len(carry) + read
        cut = ring[slot].rfind(b"\n", 0, filled)
        if cut < 0:
            carry = bytes(view[:filled])
            continue
        carry = bytes(view[cut + 1 : filled])
        yield ring[slot], cut + 1
        progress.offset += cut + 1
        slot = (slot + 1) % _buffers(parallel)
    progress.tail_bytes = len(carry)


def _buffers(parallel: bool) -> int:
    """Read buffers in turn: one per chunk ``parsed`` can hold, plus the one being cut."""
    return PARSE_THREADS + 2 if parallel and PARSE_THREADS > 1 else 1


def parsed(
    chunks: Iterator[Chunk],
    path: Path,
    damage: list[Damage],
    progress: Progress,
    *,
    parallel: bool,
) -> Iterator[pa.Table]:
    """Each chunk parsed (``parse_chunk``), in order; ``parallel`` parses on threads.

    Chunks are then parsed on ``PARSE_THREADS`` threads (Arrow's JSON parser releases the GIL),
    a few ahead of the consumer, while this thread reads and cuts the next ones. A chunk's lines
    are counted where it is parsed, so a thread numbers its damage from the chunk's first line;
    each chunk's damage is kept apart and added to ``damage`` in file order, renumbered, as its
    table is yielded, so every damaged line is still named once, with its own line number.
    ``progress.lines`` counts the lines of the chunks yielded.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not parallel or PARSE_THREADS == 1:
        for chunk in chunks:
            table, lines = _parse(
                chunk, path, progress.lines + 1, damage, use_threads=PARSE_THREADS > 1
            )
            progress.lines += lines
            yield table
        return
    pending: deque[tuple[Future[tuple[pa.Table, int]], list[Damage]]] = deque()
    pool = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="jsonl-parse")
    try:
        for chunk in chunks:
            own: list[Damage] = []
            job = pool.submit(_parse, chunk, path, 1, own, use_threads=False)
            pending.append((job, own))
            if len(pending) > PARSE_THREADS:
                yield _collected(pending.popleft(), damage, progress)
        while pending:
            yield _collected(pending.popleft(), damage, progress)
    finally:
        for job, _ in pending:
            job.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _collected(
    entry: tuple[Future[tuple[pa.Table, int]], list[Damage]],
    damage: list[Damage],
    progress: Progress,
) -> pa.Table:
    job, own = entry
    table, lines = job.result()
    damage.extend(
        dataclasses.replace(item, line=item.line + progress.lines)
        if item.line is not None
        else item
        for item in own
    )
    progress.lines += lines
    return table


def parse_chunk(
    data: bytes,
    path: Path,
    first_line: int,
    damage: list[Damage],
    *,
    use_threads: bool = True,
) -> pa.Table:
    """Parse complete JSON lines into a validated table, recording bad lines in ``damage``.

    ``use_threads=False`` keeps Arrow's parse on the calling thread, for callers that parse
    several chunks at once (its own threads would only add overhead then).
    """
    return _parse((data, len(data)), path, first_line, damage, use_threads=use_threads)[0]


def _parse(
    chunk: Chunk,
    path: Path,
    first_line: int,
    damage: list[Damage],
    *,
    use_threads: bool,
) -> tuple[pa.Table, int]:
    """``parse_chunk``, and the number of lines in the chunk.

    Arrow's parse allocates from the C library's allocator, not Arrow's default (mimalloc):
    with chunks parsed on several threads, mimalloc hands the parser's short-lived buffers back
    to the kernel and takes fresh ones, which the kernel zeroes (a huge page at a time) — about
    a second of CPU per million rows, measured with perf; malloc keeps and reuses them.
    """
    import pyarrow as pa
    import pyarrow.json as pajson

    buffer, size = chunk
    data = memoryview(buffer)[:size]
    lines = clean_line_count(buffer, size)
    if lines is None:
        return _parse_lines(data, path, first_line, damage)
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(block_size=_ARROW_BLOCK_BYTES, use_threads=use_threads),
            parse_options=pajson.ParseOptions(
                explicit_schema=arrow_schema(), unexpected_field_behavior="error"
            ),
            memory_pool=pa.system_memory_pool(),
        )
        if table.num_rows != lines:  # e.g. two objects on one line
            return _parse_lines(data, path, first_line, damage)
        table = table.select(arrow_schema().names).cast(arrow_schema())
        table.validate(full=True)
        validate_table(table)
        return table, lines
    except (pa.ArrowInvalid, pa.ArrowTypeError, RecordError):
        return _parse_lines(data, path, first_line, damage)


def clean_line_count(buffer: bytes | bytearray, size: int | None = None) -> int | None:
    r"""The number of lines in ``buffer[:size]``, if cheap checks show each is a clean ``{...}``.

    Clean: one strict-UTF-8 ``{...}`` per line, no raw control byte but the newlines, no
    escaped surrogate (``\ud…``, which decodes to no valid UTF-8). Each check is one pass
    over the chunk's memory that copies nothing: a byte search (``find``, as fast as memchr)
    for DEL and for any backslash, numpy for the control bytes (whose positions, once checked
    to be newlines, give the line count) and for the gathers beside the newlines and the
    backslashes, Arrow for UTF-8 (as strict as Python's decoder). Byte-string methods that
    build something (``translate``, ``decode``) would copy the chunk.
    """
    import numpy as np
    import pyarrow as pa

    end = len(buffer) if size is None else size
    view = memoryview(buffer)[:end]
    raw = np.frombuffer(view, dtype=np.uint8)
    if not end or raw[0] != _OPEN or raw[-1] != _NEWLINE:
        return None
    if buffer.find(b"\x7f", 0, end) >= 0:
        return None  # DEL
    newlines = _control_positions(raw)
    if not (raw[newlines] == _NEWLINE).all():
        return None  # a control byte other than the newlines
    if not (raw[newlines - 1] == _CLOSE).all() or not (raw[newlines[:-1] + 1] == _OPEN).all():
        return None  # a line that does not end with "}" or does not start with "{"
    if buffer.find(b"\\", 0, end) >= 0:
        slashes = np.flatnonzero(raw[:-2] == _BACKSLASH)
        escaped_d = (raw[slashes + 1] == _U) & ((raw[slashes + 2] | 0x20) == _D)
        if escaped_d.any():  # "\ud…" or "\uD…": an escaped surrogate is no valid UTF-8
            return None
    offsets = pa.py_buffer(np.array([0, end], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(view)])
    try:
        text.validate(full=True)  # checks UTF-8 as strictly as Python's decoder
    except pa.ArrowInvalid:
        return None
    return int(newlines.size)


def _control_positions(raw: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    """Where the bytes below 0x20 are, found a slice at a time.

    A comparison over the whole chunk would make a 16 MiB temporary each time, on memory the
    kernel must zero first (numpy asks for huge pages there); slices of ``_SCAN_BYTES`` reuse
    the same small allocation and stay in cache.
    """
    import numpy as np

    found = [
        np.flatnonzero(raw[start : start + _SCAN_BYTES] < 0x20) + start
        for start in range(0, raw.size, _SCAN_BYTES)
    ]
    return np.concatenate(found) if len(found) > 1 else found[0]


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


def _parse_lines(
    data: bytes | memoryview, path: Path, first_line: int, damage: list[Damage]
) -> tuple[pa.Table, int]:
    """The slow path: find exactly which lines are bad, keep every good one; count the lines.

    Bad lines are found in two passes (not JSON, then not a valid record); this chunk's damage
    is put back in line order, as ``verify`` lists it.
    """
    start = len(damage)
    table, lines = _judged_lines(data, path, first_line, damage)
    damage[start:] = sorted(damage[start:], key=lambda item: item.line or 0)
    return table, lines


def _judged_lines(
    data: bytes | memoryview, path: Path, first_line: int, damage: list[Damage]
) -> tuple[pa.Table, int]:
    """``_parse_lines`` without the sort: damage in the two passes' order."""
    rows: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    lines = bytes(data).split(b"\n")[:-1]
    for number, line in enumerate(lines, start=first_line):
        row, problem = decode_line(line)
        if row is None:
            damage.append(Damage(path, "corrupt_line", problem, line=number))
            continue
        rows.append(row)
        line_numbers.append(number)
    try:
        table = rows_to_table(rows)
        validate_table(table)
        return table, len(lines)
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
    return rows_to_table(good), len(lines)
