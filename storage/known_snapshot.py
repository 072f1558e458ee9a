"""The JSON store's known tests kept on disk, so planning reads only the rows added since.

Planning reads the store's known tests once (``stored.KnownTests``); on a JSON store that is a
parse of every line — seconds per million rows, for every run. ``.known-tests.arrow`` keeps what
that read found (per test: highest attempt, done, latest error attempt and category) with the
position in ``records.jsonl`` it reached, so the next run loads it (an Arrow read, no JSON) and
reads only the lines after that position. It is written by a refresh that read at least
``SAVE_AFTER_ROWS`` rows past it, so its cost is paid once per that many new rows.

It is derived data, never the truth: a snapshot of another file (``compact`` rewrote
``records.jsonl``, a copy of the store), one of a file now shorter, or an unreadable one is
ignored and the store read in full. Folding rows is idempotent (done is a set, attempts a
maximum), so snapshots written by concurrent runs, each consistent with its own position, are
all valid. The Parquet store has none: its columnar read of four columns is already fast.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runbench.storage.durable import atomic_write
from runbench.storage.since import FilePosition, LineOffset

if TYPE_CHECKING:
    from runbench.storage.stored import StoredTests

log = logging.getLogger("runbench.storage")

SNAPSHOT_FILE = ".known-tests.arrow"
SAVE_AFTER_ROWS = 50_000
_VERSION = 1
_META = b"runbench-known-tests"


@dataclass(frozen=True, slots=True)
class KnownSnapshot:
    """Where one JSON store keeps its snapshot (``path``) and the file it follows (``source``)."""

    path: Path
    source: Path

    def load(self) -> tuple[StoredTests, FilePosition] | None:
        """The snapshot and its position, if it still describes ``source``; else None."""
        import pyarrow as pa

        try:
            with pa.memory_map(str(self.path)) as handle:
                table = pa.ipc.open_file(handle).read_all()
            meta = json.loads((table.schema.metadata or {})[_META])
            if meta.get("version") != _VERSION:
                return None
            position = FilePosition(
                int(meta["device"]),
                int(meta["inode"]),
                LineOffset(int(meta["offset"]), int(meta["lines"])),
            )
            stat = os.stat(self.source)
        except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
            return None
        if (stat.st_dev, stat.st_ino) != (position.device, position.inode):
            return None  # another file: compacted, or copied with the store
        if stat.st_size < position.at.offset:
            return None
        return _tests_of(table), position

    def save(self, tests: StoredTests, position: object) -> None:
        """Write ``tests`` as of ``position`` (a JSON store's ``FilePosition``), atomically.

        A failed write is left unsaid: the snapshot is an optimisation, the next run reads more.
        """
        if not isinstance(position, FilePosition):
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
        meta = {
            "version": _VERSION,
            "device": position.device,
            "inode": position.inode,
            "offset": position.at.offset,
            "lines": position.at.lines,
        }
        table = table.replace_schema_metadata({_META: json.dumps(meta).encode()})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        try:
            atomic_write(self.path, bytes(sink.getvalue()))
        except OSError as error:  # a full disk fails the run's appends, not this
            log.debug("known-tests snapshot not written: %s", error)


def _tests_of(table: object) -> StoredTests:
    from itertools import compress

    import pyarrow as pa
    import pyarrow.compute as pc

    from runbench.storage.stored import StoredTests

    assert isinstance(table, pa.Table)
    ids = table.column("test_id").to_pylist()
    done = set(compress(ids, table.column("done").to_pylist()))
    tests = StoredTests(
        done=done,
        errored=set(ids).difference(done),
        attempts=dict(zip(ids, table.column("attempt").to_pylist(), strict=True)),
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
