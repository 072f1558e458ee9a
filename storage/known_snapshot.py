"""A store's known tests kept on disk, so planning reads only the rows added since.

Planning reads the store's known tests once (``stored.KnownTests``); on a JSON store that is a
parse of every line — seconds per million rows, for every run — and on a Parquet store a read of
four columns of every part. ``.known-tests.arrow`` keeps what that read found (per test: highest
attempt, done, latest error attempt and category) with the position it reached (``records.jsonl``'s
offset, or the parts and segment offsets read), so the next run loads it (one Arrow read) and
reads only the rows after that position. It is written by a refresh that read at least
``SAVE_AFTER_ROWS`` rows past it, so its cost is paid once per that many new rows.

It is derived data, never the truth: a JSON snapshot of another file (``compact`` rewrote
``records.jsonl``, a copy of the store), one of a file now shorter, or an unreadable one is
ignored and the store read in full (another file: another inode, or the same inode, reused,
with other bytes before the position, ``since.follows``). A Parquet position stays valid
through compactions (the rows since it skip parts that only repackage parts already read,
``parquet_since.py``). Folding rows
is idempotent (done is a set, attempts a maximum), so snapshots written by concurrent runs, each
consistent with its own position, are all valid. Deleting a part or a line by hand is not
followed: delete the snapshot with it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.storage.durable import atomic_write
from runbench.storage.parquet_since import ParquetPosition
from runbench.storage.since import FilePosition, LineOffset, follows
from runbench.storage.sorted_ids import SortedIds

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pyarrow as pa

    from runbench.storage.base import Damage
    from runbench.storage.stored import StoredTests

log = logging.getLogger("runbench.storage")

SNAPSHOT_FILE = ".known-tests.arrow"
SAVE_AFTER_ROWS = 50_000
_VERSION = 2  # 2: rows sorted by test id
_META = b"runbench-known-tests"


@dataclass(frozen=True, slots=True)
class KnownSnapshot:
    """Where a store keeps its snapshot (``path``); a JSON store names the file it follows."""

    path: Path
    source: Path | None = None

    def load(self) -> tuple[SnapshotTests, object] | None:
        """The snapshot and its position, if it still describes the store; else None."""
        import pyarrow as pa

        try:
            with pa.memory_map(str(self.path)) as handle:
                table = pa.ipc.open_file(handle).read_all()
            meta = json.loads((table.schema.metadata or {})[_META])
            if not isinstance(meta, dict) or meta.get("version") != _VERSION:
                return None
            if not table.schema.equals(_schema()):
                # a column dropped or of another type (a hand-edited file): an id of another
                # type would be found nowhere, and every done test would run again
                return None
            position = _position_of(meta["position"])
            if isinstance(position, FilePosition) and not self._follows(position):
                return None
        except (OSError, KeyError, ValueError, TypeError, AttributeError, pa.ArrowException):
            return None
        return SnapshotTests(table), position

    def _follows(self, position: FilePosition) -> bool:
        """Whether ``records.jsonl`` is still the file the snapshot read, at least as long."""
        if self.source is None:
            return False
        with open(self.source, "rb") as handle:  # another file: compacted, or copied
            return follows(handle, position)

    def forget_if_damaged(self, damage: Sequence[Damage]) -> None:
        """Delete the snapshot when a read found damaged rows (an orphan segment is not).

        Rows the snapshot counted may be the ones now unreadable (a part that fails its
        checksum, a line damaged after it was read); a damaged test is not done, so the next
        planning read starts from the beginning, as every other reader does.
        """
        if any(item.kind != "orphan_segment" for item in damage):
            self.path.unlink(missing_ok=True)

    def save(self, tests: StoredTests, position: object) -> None:
        """Write ``tests`` as of ``position`` (either store's kind of position), atomically.

        A failed write is left unsaid: the snapshot is an optimisation, the next run reads more.
        """
        encoded = _position_json(position)
        if encoded is None:
            return
        import pyarrow as pa

        ids = list(tests.attempts)
        done = tests.done
        errors = tests.latest_errors
        table = pa.table(
            {
                "test_id": pa.array(ids, pa.string()),
                "attempt": pa.array(list(tests.attempts.values()), pa.int32()),
                "done": pa.array([test_id in done for test_id in ids], pa.bool_()),
                "error_attempt": pa.array(
                    [errors[test_id][0] if test_id in errors else None for test_id in ids],
                    pa.int32(),
                ),
                "error_category": pa.array(
                    [errors[test_id][1] if test_id in errors else None for test_id in ids],
                    pa.string(),
                ),
            }
        )
        assert table.schema.equals(_schema()), "load refuses any other schema"
        meta = {"version": _VERSION, "position": encoded}
        table = table.sort_by("test_id")  # what SnapshotTests' binary search needs
        table = table.replace_schema_metadata({_META: json.dumps(meta).encode()})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        try:
            atomic_write(self.path, bytes(sink.getvalue()))
        except OSError as error:  # a full disk fails the run's appends, not this
            log.debug("known-tests snapshot not written: %s", error)


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("test_id", pa.string()),
            ("attempt", pa.int32()),
            ("done", pa.bool_()),
            ("error_attempt", pa.int32()),
            ("error_category", pa.string()),
        ]
    )


def _position_json(position: object) -> dict[str, Any] | None:
    if isinstance(position, FilePosition):
        return {"file": position.to_json()}
    if isinstance(position, ParquetPosition):
        return {
            "parts": sorted(position.parts),
            "segments": {name: [at.offset, at.lines] for name, at in position.segments.items()},
        }
    return None


def _position_of(data: dict[str, Any]) -> object:
    """The inverse of ``_position_json``.

    Raises:
        KeyError, ValueError, TypeError: not a position this module wrote.
    """
    if "file" in data:
        return FilePosition.from_json(data["file"])
    return ParquetPosition(
        frozenset(str(name) for name in data["parts"]),
        {
            str(name): LineOffset(int(offset), int(lines))
            for name, (offset, lines) in data["segments"].items()
        },
    )


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """One test as the snapshot has it: done, highest attempt, latest error (attempt, category)."""

    done: bool
    attempt: int
    error: tuple[int, str | None] | None


class SnapshotTests:
    """A loaded snapshot: its columns sorted by test id, asked one id at a time.

    Nothing is turned into Python objects up front (``SortedIds``): loading a million tests is
    a memory map, and each question a binary search. ``stored_tests`` builds the sets when
    they are really needed (a new snapshot, tests).
    """

    def __init__(self, table: pa.Table) -> None:
        import pyarrow.compute as pc

        table = table.combine_chunks()  # one chunk as written: nothing is copied
        self._table = table
        self._ids = SortedIds(table.column("test_id"))
        self._attempt = pc.fill_null(table.column("attempt"), 0).to_numpy()
        self._done = pc.fill_null(table.column("done"), False).to_numpy()
        self._error_attempt = pc.fill_null(table.column("error_attempt"), 0).to_numpy()

    def entry(self, test_id: str) -> SnapshotEntry | None:
        """What the snapshot holds of ``test_id`` (one binary search), or None."""
        row = self._ids.find(test_id)
        if row < 0:
            return None
        error = None
        if self._error_attempt[row]:
            category = self._table.column("error_category")[row].as_py()
            error = (int(self._error_attempt[row]), category)
        return SnapshotEntry(bool(self._done[row]), int(self._attempt[row]), error)

    def stored_tests(self) -> StoredTests:
        """The snapshot as Python sets and dicts (0.5 s per million tests)."""
        from itertools import compress

        import pyarrow as pa
        import pyarrow.compute as pc

        from runbench.storage.stored import StoredTests

        table = self._table
        ids = table.column("test_id").to_pylist()
        done_flags = table.column("done")
        tests = StoredTests(
            done=set(compress(ids, done_flags.to_pylist())),
            errored=set(compress(ids, pc.invert(done_flags).to_pylist())),
            attempts=dict.fromkeys(ids, 1),  # most tests ran once: only re-runs take a loop
        )
        reruns = table.filter(pc.greater(table.column("attempt"), pa.scalar(1, pa.int32())))
        tests.attempts.update(
            zip(
                reruns.column("test_id").to_pylist(),
                reruns.column("attempt").to_pylist(),
                strict=True,
            )
        )
        with_errors = table.filter(pc.is_valid(table.column("error_attempt")))
        for test_id, attempt, category in zip(
            with_errors.column("test_id").to_pylist(),
            with_errors.column("error_attempt").to_pylist(),
            with_errors.column("error_category").to_pylist(),
            strict=True,
        ):
            tests.latest_errors[test_id] = (attempt, category)
        return tests
