"""What the store knows about tests: done, only errored, and the latest attempt of each.

This is the one definition of "done": a test is done when the store holds a row
with its test id whose status is not ``error``. ``status`` (how far a plan has got), the
stores' ``done_ids``, and planning and claims (through ``KnownTests``, the same rule kept
current from the rows appended since) all read it here, so the ``status != "error"`` rule for
store rows lives here (``is_judged``); data frames in analysis use
``analysis.results.judged_rows``, and both name ``records.ERROR_STATUS``.

Rows in damaged files are skipped by the scan, so a test whose only rows sit in a damaged part or
line counts as not done and is planned again: damage can cost a re-run, never a false "done".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING

from runbench.records import ERROR_STATUS
from runbench.storage.known_snapshot import SAVE_AFTER_ROWS, KnownSnapshot

if TYPE_CHECKING:
    import pyarrow as pa

    from runbench.storage.base import Filters, FilterValue, RowsSince, Store
    from runbench.storage.known_snapshot import SnapshotTests


@dataclass(frozen=True, slots=True)
class StoredTests:
    """Test ids as the store knows them.

    Attributes:
        done: ids with at least one non-error row (judged, never to be re-run by resume).
        errored: ids whose rows are all infrastructure errors (not done; resume re-runs them).
        attempts: the highest attempt number stored per id (any status); the next run of a test
            uses ``attempts.get(test_id, 0) + 1``.
        latest_errors: per id whose highest attempt so far ended in ``error``, that attempt and
            its error category; planning derives the settled errors from it (``settled.py``),
            so one read of the store serves done, attempts and settled alike. An entry may
            outlive a later judged attempt: ``error_category_of`` asks ``done`` first.
    """

    done: set[str] = field(default_factory=set)
    errored: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)
    latest_errors: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    def is_done(self, test_id: str) -> bool:
        """Whether the store holds a judged row of ``test_id``."""
        return test_id in self.done

    def highest_attempt(self, test_id: str) -> int:
        """The highest attempt stored for ``test_id``; 0 when it has none."""
        return self.attempts.get(test_id, 0)

    def next_attempt(self, test_id: str) -> int:
        """The attempt number the next run of ``test_id`` should record."""
        return self.attempts.get(test_id, 0) + 1

    def error_category_of(self, test_id: str) -> str | None:
        """The error category of the test's latest attempt, when that attempt is an error.

        ``None`` for a done test, a test never stored, or one whose latest attempt is an error
        without a category.
        """
        if test_id in self.done:
            return None
        latest = self.latest_errors.get(test_id)
        if latest is None or latest[0] != self.attempts.get(test_id):
            return None
        return latest[1]


@dataclass(frozen=True, slots=True)
class KnownTest:
    """One test as the store knows it, from one lookup.

    ``attempt`` is its highest stored attempt (0: never stored); ``error_category`` is that of
    its latest attempt when that attempt ended in ``error`` and no attempt was judged (else None).
    """

    done: bool
    attempt: int
    error_category: str | None


@dataclass(frozen=True, slots=True)
class KnownView:
    """What ``KnownTests`` knows: its snapshot as loaded, and the rows folded in since.

    The snapshot (``base``) is never turned into Python sets: it is asked id by id
    (``SnapshotTests``, a binary search over Arrow's buffer), so a run beside a million stored
    tests pays for the tests it plans, not for the store. ``delta`` holds the rows read after
    the snapshot's position (or every row, when there was no snapshot to start from). Both
    only grow: done is a union, attempts and error attempts a maximum (the later row wins a
    tie, as in ``_fold``).
    """

    base: SnapshotTests | None
    delta: StoredTests

    def about(self, test_id: str) -> KnownTest:
        """Everything planning and claims ask of one test, from one lookup in the snapshot."""
        delta = self.delta
        entry = self.base.entry(test_id) if self.base is not None else None
        done = test_id in delta.done or (entry is not None and entry.done)
        attempt = max(entry.attempt if entry else 0, delta.attempts.get(test_id, 0))
        latest = delta.latest_errors.get(test_id)
        earlier = entry.error if entry else None
        if latest is None or (earlier is not None and earlier[0] > latest[0]):
            latest = earlier
        # the category of the latest attempt, when that attempt is an error and nothing judged
        category = None if done or latest is None or latest[0] != attempt else latest[1]
        return KnownTest(done, attempt, category)

    def is_done(self, test_id: str) -> bool:
        return self.about(test_id).done

    def highest_attempt(self, test_id: str) -> int:
        return self.about(test_id).attempt

    def next_attempt(self, test_id: str) -> int:
        return self.about(test_id).attempt + 1

    def error_category_of(self, test_id: str) -> str | None:
        """As ``StoredTests.error_category_of``, over the snapshot and the rows since."""
        return self.about(test_id).error_category

    def materialized(self) -> StoredTests:
        """Everything as one ``StoredTests`` (Python sets of every id: for saving and tests)."""
        if self.base is None:
            return self.delta
        tests = self.base.stored_tests()
        delta = self.delta
        tests.done.update(delta.done)
        attempts = tests.attempts
        for test_id, attempt in delta.attempts.items():
            if attempt > attempts.get(test_id, 0):
                attempts[test_id] = attempt
        latest = tests.latest_errors
        for test_id, (attempt, category) in delta.latest_errors.items():
            if test_id not in latest or attempt >= latest[test_id][0]:
                latest[test_id] = (attempt, category)
        tests.errored.clear()
        tests.errored.update(set(attempts).difference(tests.done))
        return tests


def stored_tests(
    store: Store,
    models: Sequence[str] | None = None,
    suite: str | None = None,
    *,
    test_ids: Iterable[str] | None = None,
    filters: Filters | None = None,
) -> StoredTests:
    """Read done, errored and latest attempts from ``store``, optionally narrowed.

    Args:
        store: any store; only ``test_id``, ``attempt``, ``status`` and ``error_category`` are
            read.
        models: keep rows of these models only (``None``: every model).
        suite: keep rows of this suite only (``None``: every suite).
        test_ids: keep rows of these test ids only (``None``: every test).
        filters: any further column filters, as ``Store.scan`` takes them.
    """
    narrowed: dict[str, FilterValue] = dict(filters or {})
    if models is not None:
        narrowed["model"] = list(models)
    if suite is not None:
        narrowed["suite"] = suite
    if test_ids is not None:
        narrowed["test_id"] = list(test_ids)
    tests = StoredTests()
    for table in store.scan_batches(list(KNOWN_COLUMNS), narrowed or None):
        _fold(tests, table)
    return tests


class KnownTests:
    """What ``stored_tests`` would say now, kept current by reading only the rows added since.

    The first ``refresh`` reads the whole store once (four columns; a JSON store starts from its
    snapshot, ``known_snapshot.py``, and reads the rows after it); every later one reads the
    rows appended after the position the last one reached (``Store.rows_since``), so its cost
    follows what other runs wrote meanwhile, never the store's size. Claims refresh it under
    their lock before each grant, and planning reads the same object, so one run reads its
    store once. A row delivered twice (a segment sealed into a part) changes nothing: done ids
    are a set and attempts a maximum.
    """

    def __init__(
        self,
        read_since: Callable[[object | None, Sequence[str]], RowsSince],
        snapshot: KnownSnapshot | None = None,
    ) -> None:
        self._read_since = read_since
        self._snapshot = snapshot
        self._position: object | None = None
        self._lock = threading.Lock()
        self._view = KnownView(None, StoredTests())

    def refresh(self) -> KnownView:
        """Fold in the rows appended since the last refresh; return the (live) result.

        The returned object is updated in place by later refreshes: callers read it, never
        change it. A store with a snapshot (``known_snapshot.py``) starts the first refresh
        from it, and saves a new one after reading many rows past it.
        """
        with self._lock:
            if self._position is None and self._snapshot is not None:
                loaded = self._snapshot.load()
                if loaded is not None:
                    base, self._position = loaded
                    self._view = KnownView(base, StoredTests())
            rows = self._read_since(self._position, list(KNOWN_COLUMNS))
            read = 0
            for table in rows:
                _fold(self._view.delta, table)
                read += table.num_rows
            self._position = rows.position
            if self._snapshot is not None and read >= SAVE_AFTER_ROWS:
                self._snapshot.save(self._view.materialized(), self._position)
            return self._view


KNOWN_COLUMNS = ("test_id", "attempt", "status", "error_category")


def _fold(tests: StoredTests, table: pa.Table) -> None:
    """Add one table of ``KNOWN_COLUMNS`` rows to ``tests``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table.column("test_id").to_pylist()
    judged = list(compress(ids, is_judged(table).to_pylist()))
    tests.done.update(judged)
    fresh = set(ids).difference(tests.attempts)
    tests.attempts.update(dict.fromkeys(fresh, 1))
    tests.errored.update(fresh.difference(tests.done))
    tests.errored.difference_update(judged)
    # only tests re-run at least once have attempts above 1: most rows need no Python loop
    reruns = table.filter(pc.greater(table.column("attempt"), pa.scalar(1, pa.int32())))
    attempts = tests.attempts
    for test_id, attempt in zip(
        reruns.column("test_id").to_pylist(), reruns.column("attempt").to_pylist(), strict=True
    ):
        if attempt > attempts[test_id]:
            attempts[test_id] = attempt
    # errors are few: the latest error attempt per test, in a loop over the error rows only
    errors = table.filter(pc.equal(table.column("status"), pa.scalar(ERROR_STATUS)))
    latest = tests.latest_errors
    for test_id, attempt, category in zip(
        errors.column("test_id").to_pylist(),
        errors.column("attempt").to_pylist(),
        errors.column("error_category").to_pylist(),
        strict=True,
    ):
        if test_id not in latest or attempt >= latest[test_id][0]:
            latest[test_id] = (attempt, category)


def done_test_ids(store: Store, filters: Filters | None = None) -> set[str]:
    """Only ``stored_tests(...).done``, without the attempts (what ``Store.done_ids`` returns)."""
    done: set[str] = set()
    for table in store.scan_batches(["test_id", "status"], filters):
        done.update(table.column("test_id").filter(is_judged(table)).to_pylist())
    return done


def is_judged(table: pa.Table) -> pa.BooleanArray:
    """True for rows with a result the model was judged on: every status but ``error``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.not_equal(table.column("status"), pa.scalar(ERROR_STATUS))
