"""What the store knows about tests: done, only errored, and the latest attempt of each.

This is the one definition of "done": a test is done when the store holds a row
with its test id whose status is not ``error``. Planning (what is left to run), ``status`` (how
far a plan has got), the stores' ``done_ids`` and claims all ask this function, so the
``status != "error"`` rule for store rows lives here (``is_judged``); data frames in analysis use
``analysis.results.judged_rows``, and both name ``records.ERROR_STATUS``.

Rows in damaged files are skipped by the scan, so a test whose only rows sit in a damaged part or
line counts as not done and is planned again: damage can cost a re-run, never a false "done".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING

from runbench.records import ERROR_STATUS

if TYPE_CHECKING:
    import pyarrow as pa

    from runbench.storage.base import Filters, FilterValue, Store


@dataclass(frozen=True, slots=True)
class StoredTests:
    """Test ids as the store knows them.

    Attributes:
        done: ids with at least one non-error row (judged, never to be re-run by resume).
        errored: ids whose rows are all infrastructure errors (not done; resume re-runs them).
        attempts: the highest attempt number stored per id (any status); the next run of a test
            uses ``attempts.get(test_id, 0) + 1``.
    """

    done: set[str] = field(default_factory=set)
    errored: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)

    def next_attempt(self, test_id: str) -> int:
        """The attempt number the next run of ``test_id`` should record."""
        return self.attempts.get(test_id, 0) + 1


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
        store: any store; only ``test_id``, ``attempt`` and ``status`` are read.
        models: keep rows of these models only (``None``: every model).
        suite: keep rows of this suite only (``None``: every suite).
        test_ids: keep rows of these test ids only (``None``: every test).
        filters: any further column filters, as ``Store.scan`` takes them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    narrowed: dict[str, FilterValue] = dict(filters or {})
    if models is not None:
        narrowed["model"] = list(models)
    if suite is not None:
        narrowed["suite"] = suite
    if test_ids is not None:
        narrowed["test_id"] = list(test_ids)
    done: set[str] = set()
    seen: set[str] = set()
    higher: dict[str, int] = {}  # only tests re-run at least once: most have attempt 1 alone
    for table in store.scan_batches(["test_id", "attempt", "status"], narrowed or None):
        ids = table.column("test_id").to_pylist()
        done.update(compress(ids, is_judged(table).to_pylist()))
        seen.update(ids)
        reruns = table.filter(pc.greater(table.column("attempt"), pa.scalar(1, pa.int32())))
        for test_id, attempt in zip(
            reruns.column("test_id").to_pylist(), reruns.column("attempt").to_pylist(), strict=True
        ):
            if attempt > higher.get(test_id, 1):
                higher[test_id] = attempt
    attempts = dict.fromkeys(seen, 1)
    attempts.update(higher)
    return StoredTests(done=done, errored=seen - done, attempts=attempts)


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
