"""``summary.json`` kept up to date from the rows appended since it was last written.

A JSON store's summary used to be recomputed from every row after every run: at a million rows
that read cost more than the run it summarised. Now the summary is rendered from its leaves'
tallies (``summary_sums.Tally``: counts and exact sums), kept beside it in one small derived
file, ``.summary-state.json``, with the position in ``records.jsonl`` they were read up to; the
tests they count (test id, attempt and time of the row counted, one Arrow row per test) are in
immutable chunk files under ``.summary-counted/``, which that file lists. An update reads the
rows after the position (``Store.rows_since``), adds the tests they judge for the first time,
writes their ids as one new chunk and the state again: its reading *and writing* cost follows
what was appended (a million counted ids are not rewritten for 1,500 new ones; chunks are
merged into one every ``MAX_CHUNKS`` updates). Since the sums are exact, the file equals a full
recompute figure for figure (the property test ``tests/analysis/test_summary_state.py``).

A full recompute (``rows_since`` from the start) is made when there is no usable state, when
``records.jsonl`` is another file than the one the state read (``compact`` rewrote it), and
when a new row judges a test already counted with a later attempt (or is a later row of the
same attempt): the counted row would have to be taken out, and the state keeps only tallies.
A run never does that (a claim never grants a done test); an import of the same tests can.

Updates are serialised by a lock file. A new chunk is written before the state that lists it,
the summary before the state, each atomically, and chunks no state lists are deleted after the
state is written: a crash anywhere makes the next update read a little again and leaves at most
an unlisted chunk it deletes, never a row counted twice.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbench.analysis.results import latest_results
from runbench.analysis.summary import SUMMARY_COLUMNS, LeafKey, leaf_tallies, summary_of
from runbench.analysis.summary_sums import Tally
from runbench.records import ERROR_STATUS
from runbench.storage import Store
from runbench.storage.durable import atomic_write
from runbench.storage.locking import FileLock
from runbench.storage.since import FilePosition, follows

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

RECORDS_FILE = "records.jsonl"  # the JSON store's one file of rows, which the state follows
STATE_FILE = ".summary-state.json"
CHUNKS_FOLDER = ".summary-counted"
LOCK_FILE = ".summary.lock"
STATE_VERSION = 2
MAX_CHUNKS = 16
_OLD_STATE_FILE = ".summary-state.arrow"  # version 1 kept the counted tests inside the state
READ_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys([*SUMMARY_COLUMNS, "test_id", "attempt", "recorded_at", "suite"])
)


@dataclass(slots=True)
class SummaryState:
    """Leaf tallies, the tests they count, and where in ``records.jsonl`` they were read to."""

    position: FilePosition | None = None
    tallies: dict[LeafKey, Tally] = field(default_factory=dict)
    counted: list[pa.Table] = field(
        default_factory=list
    )  # chunks of (test_id, attempt, recorded_at)
    files: list[str] = field(default_factory=list)  # chunk files holding counted[: len(files)]

    def fold(self, table: pa.Table) -> bool:
        """Count the tests ``table`` judges for the first time; False if it must start over.

        False (nothing changed) when a row judges a counted test with a later attempt (see the
        module docstring). Rows of tests counted with the same or a later attempt are repeats
        or older: skipped.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        from runbench.analysis.report import LEGACY_SUITES
        from runbench.analysis.results import to_frame

        judged = pc.and_(
            pc.not_equal(table.column("status"), pa.scalar(ERROR_STATUS)),
            pc.invert(pc.is_in(table.column("suite"), value_set=pa.array(LEGACY_SUITES))),
        )
        table = table.filter(judged)
        if table.num_rows == 0:
            return True
        tests = latest_results(to_frame(table))
        counted = self._counted()
        if counted.num_rows:
            import numpy as np

            ids = pa.array(tests["test_id"].astype(object), pa.string())
            # hash the few new ids and scan the counted ones, not the other way round
            met = counted.filter(pc.is_in(counted.column("test_id"), value_set=ids))
            where = pc.index_in(ids, value_set=met.column("test_id"))
            seen = where.is_valid().to_numpy(zero_copy_only=False)
            if seen.any():
                at = where.drop_null().to_numpy().astype("int64")
                old_attempt = met.column("attempt").to_numpy()[at]
                old_time = met.column("recorded_at").to_numpy()[at]
                attempt = tests["attempt"].to_numpy(dtype="int64")[seen]
                time = _utc_times(tests["recorded_at"])[seen]
                # a tie in time is a later row too: a full recompute keeps the last in the file
                later = (attempt > old_attempt) | ((attempt == old_attempt) & (time >= old_time))
                if np.any(later):
                    return False
                tests = tests[~seen]
        for key, tally in leaf_tallies(tests).items():
            self.tallies.setdefault(key, Tally()).add(tally)
        self.counted.append(
            pa.table(
                {
                    "test_id": pa.array(tests["test_id"].astype(object), pa.string()),
                    "attempt": pa.array(tests["attempt"].astype("int32"), pa.int32()),
                    "recorded_at": pa.array(_utc_times(tests["recorded_at"]), pa.timestamp("us")),
                }
            )
        )
        return True

    def counted_ids(self) -> list[str]:
        """The ids of the tests the tallies count."""
        return self._counted().column("test_id").to_pylist()

    def _counted(self) -> pa.Table:
        """Every counted test, as one table (its chunks as they are: nothing is copied)."""
        import pyarrow as pa

        if not self.counted:
            return _empty_counted()
        return pa.concat_tables(self.counted)

    def save(self, folder: Path) -> None:
        """Write the tests counted since the last save as a chunk, then the state that lists it.

        Every ``MAX_CHUNKS`` saves the chunks are merged into one. Chunks no state lists (a
        crash between the two writes, or merged away) are deleted last.

        Raises:
            OSError: a file cannot be written.
        """
        import pyarrow as pa

        chunks = folder / CHUNKS_FOLDER
        fresh = self.counted[len(self.files) :]
        if len(self.files) + 1 > MAX_CHUNKS:
            fresh, self.files = self.counted, []
        new_rows = [table for table in fresh if table.num_rows]
        if new_rows:
            chunks.mkdir(exist_ok=True)
            name = f"{uuid.uuid4().hex}.arrow"
            table = pa.concat_tables(new_rows).combine_chunks()
            atomic_write(chunks / name, _ipc_bytes(table))
            self.counted = [*self.counted[: len(self.files)], table]
            self.files = [*self.files, name]
        else:
            self.counted = self.counted[: len(self.files)]
        meta = {
            "version": STATE_VERSION,
            "position": None if self.position is None else self.position.to_json(),
            "chunks": self.files,
            "leaves": [[list(key), tally.to_json()] for key, tally in self.tallies.items()],
        }
        atomic_write(folder / STATE_FILE, json.dumps(meta).encode())
        (folder / _OLD_STATE_FILE).unlink(missing_ok=True)
        if chunks.is_dir():
            for path in chunks.iterdir():
                if path.name not in self.files:
                    path.unlink(missing_ok=True)

    @classmethod
    def read(cls, folder: Path) -> SummaryState | None:
        """The state kept in ``folder``; None when missing, unreadable or of another version.

        The file is derived data a user may have edited or damaged: anything of another shape
        (a list, a tally without its fields) is a missing state, recomputed, never a traceback.
        """
        import pyarrow as pa

        try:
            meta = json.loads((folder / STATE_FILE).read_bytes())
            if not isinstance(meta, dict) or meta.get("version") != STATE_VERSION:
                return None
            tallies: dict[LeafKey, Tally] = {
                (str(model), str(prompt), str(rate), str(difficulty), str(task)): Tally.from_json(
                    data
                )
                for (model, prompt, rate, difficulty, task), data in meta["leaves"]
            }
            position = (
                None if meta["position"] is None else FilePosition.from_json(meta["position"])
            )
            files = [str(name) for name in meta["chunks"]]
            counted = []
            for name in files:
                if "/" in name or name.startswith("."):
                    return None
                with pa.memory_map(str(folder / CHUNKS_FOLDER / name)) as source:
                    counted.append(pa.ipc.open_file(source).read_all())
            if any(table.schema != _empty_counted().schema for table in counted):
                return None
        # AttributeError and IndexError: a value of another kind or length than written
        except (
            OSError,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            pa.ArrowException,
        ):
            return None
        return cls(position, tallies, counted, files)


def _empty_counted() -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            "test_id": pa.array([], pa.string()),
            "attempt": pa.array([], pa.int32()),
            "recorded_at": pa.array([], pa.timestamp("us")),
        }
    )


def _ipc_bytes(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _utc_times(times: pd.Series) -> np.ndarray:
    """``recorded_at`` as naive UTC microseconds (numbers NumPy compares)."""
    if getattr(times.dtype, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[us]")


def update_state(store: Store, state: SummaryState | None) -> SummaryState:
    """``state`` brought up to the rows ``store`` holds now; a full read when it must be.

    Raises:
        StoreError: the store cannot be read.
    """
    if state is not None and state.position is not None:
        updated = _read_into(store, state, state.position)
        if updated is not None:
            return updated
    fresh = _read_into(store, SummaryState(), None)
    assert fresh is not None, "a fresh state counts no test, so no row can replace one"
    return fresh


def _read_into(
    store: Store, state: SummaryState, position: FilePosition | None
) -> SummaryState | None:
    """Fold the rows after ``position`` into ``state``; None if a full recompute is needed."""
    import pyarrow as pa

    if position is not None and not _still_follows(store, position):
        return None  # records.jsonl was rewritten: the tallies may hold rows it no longer has
    rows = store.rows_since(position, list(READ_COLUMNS))
    tables = list(rows)
    reached = rows.position
    if reached is None and not tables:
        return state  # no records.jsonl yet: nothing to count, nothing read
    if not isinstance(reached, FilePosition):
        return None  # not a one-file store: nothing this state can follow
    if position is not None and (reached.device, reached.inode) != (
        position.device,
        position.inode,
    ):
        return None  # records.jsonl was rewritten: the tallies may hold rows it no longer has
    if tables and not state.fold(pa.concat_tables(tables)):
        return None
    state.position = reached
    return state


def _still_follows(store: Store, position: FilePosition) -> bool:
    """Whether ``records.jsonl`` is the file ``position`` was taken in (``since.follows``)."""
    try:
        with open(store.path / RECORDS_FILE, "rb") as handle:
            return follows(handle, position)
    except FileNotFoundError:
        return False


def refresh(store: Store, summary_path: Path) -> None:
    """Bring ``summary_path`` (and its state beside it) up to date with ``store``'s rows.

    Raises:
        StoreError: the store cannot be read.
        OSError: the summary or its state cannot be written.
    """
    folder = summary_path.parent
    with FileLock(folder / LOCK_FILE):
        state = update_state(store, SummaryState.read(folder))
        atomic_write(summary_path, _summary_bytes(state))
        state.save(folder)


def _summary_bytes(state: SummaryState) -> bytes:
    document: dict[str, Any] = summary_of(state.tallies)
    return json.dumps(document, indent=2).encode()
