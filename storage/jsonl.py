"""Reading JSON-lines record files in bounded chunks, separating good rows from damage.

Both stores write JSONL: the JSON store's ``records.jsonl`` and the Parquet store's write-ahead
segments. A reader never holds more than one chunk; it parses a chunk with Arrow's JSON reader
(fast, in C++) and only if that fails falls back to line-by-line parsing, so one corrupt line costs
one slow chunk and is named by its line number instead of hiding the file.

Bytes after the last newline are not damage by themselves: they are either an append still being
written or a line torn by a killed writer. The caller, who knows whether a writer can be active,
decides which (``JsonlReader.tail_bytes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.storage.base import Damage

from runbench.errors import RecordError
from runbench.records import arrow_schema, rows_to_table, validate_table

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_BYTES = 16 * 1024 * 1024
_ARROW_BLOCK_BYTES = 4 * 1024 * 1024


class JsonlReader:
    """One pass over a JSONL file: iterate ``tables()``, then read ``damage`` and ``tail_bytes``."""

    def __init__(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = path
        self.chunk_bytes = chunk_bytes
        self.damage: list[Damage] = []
        self.rows = 0
        self.lines = 0
        self.tail_bytes = 0
        self.tail_offset = 0

    def tables(self) -> Iterator[pa.Table]:
        """Yield one validated table per chunk of complete lines.

        Raises:
            FileNotFoundError: the file does not exist (callers decide whether that is normal).
        """
        offset = 0
        carry = b""
        with open(self.path, "rb") as handle:
            while True:
                data = handle.read(self.chunk_bytes)
                if not data:
                    break
                buffer = carry + data
                cut = buffer.rfind(b"\n")
                if cut < 0:
                    carry = buffer
                    continue
                complete, carry = buffer[: cut + 1], buffer[cut + 1 :]
                table = parse_chunk(complete, self.path, self.lines + 1, self.damage)
                self.lines += complete.count(b"\n")
                offset += len(complete)
                self.rows += table.num_rows
                if table.num_rows:
                    yield table
        self.tail_bytes = len(carry)
        self.tail_offset = offset

    def torn_tail(self) -> Damage:
        """The damage entry for bytes after the last newline, once known to be torn."""
        return Damage(
            self.path,
            "torn_line",
            f"{self.tail_bytes} bytes after the last complete line (a writer was killed mid-write)",
            line=self.lines + 1,
        )


def parse_chunk(data: bytes, path: Path, first_line: int, damage: list[Damage]) -> pa.Table:
    """Parse complete JSON lines into a validated table, recording bad lines in ``damage``."""
    import pyarrow as pa
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(block_size=_ARROW_BLOCK_BYTES),
            parse_options=pajson.ParseOptions(
                explicit_schema=arrow_schema(), unexpected_field_behavior="error"
            ),
        )
        table = table.select(arrow_schema().names).cast(arrow_schema())
        validate_table(table)
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError, RecordError):
        return _parse_lines(data, path, first_line, damage)


def _parse_lines(data: bytes, path: Path, first_line: int, damage: list[Damage]) -> pa.Table:
    """The slow path: find exactly which lines are bad, keep every good one."""
    rows: list[dict[str, Any]] = []
    line_numbers: list[int] = []
    for number, line in enumerate(data.split(b"\n")[:-1], start=first_line):
        try:
            row = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            damage.append(Damage(path, "corrupt_line", f"not JSON ({error.msg})", line=number))
            continue
        if not isinstance(row, dict):
            damage.append(Damage(path, "corrupt_line", "not a JSON object", line=number))
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
