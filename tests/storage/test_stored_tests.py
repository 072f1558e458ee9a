"""``stored_tests``: the one definition of done, only-errored and latest attempt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runbench.records import Record
from runbench.storage import StoredTests, open_store, stored_tests
from runbench.synthetic import synthetic_records


def _of_status(status: str, seed: int = 9) -> Record:
    return next(r for r in synthetic_records(300, seed=seed) if r.status == status)


def test_done_errored_and_latest_attempt_follow_the_rows(
    tmp_path: Path, storage_format: str
) -> None:
    error, success, failure = _of_status("error"), _of_status("full_success"), _of_status("failure")
    store = open_store(tmp_path, storage_format)
    store.append(
        [
            dataclasses.replace(error, test_id="a" * 32, attempt=1),
            dataclasses.replace(error, test_id="a" * 32, attempt=2),
            dataclasses.replace(error, test_id="b" * 32, attempt=1),
            dataclasses.replace(success, test_id="b" * 32, attempt=2),
            dataclasses.replace(failure, test_id="c" * 32, attempt=1),
        ]
    )
    stored = stored_tests(store)
    assert stored.done == {"b" * 32, "c" * 32}, "a failure is a judged result; only error is not"
    assert stored.errored == {"a" * 32}
    assert stored.attempts == {"a" * 32: 2, "b" * 32: 2, "c" * 32: 1}
    assert stored.next_attempt("a" * 32) == 3
    assert stored.next_attempt("d" * 32) == 1
    assert store.done_ids() == stored.done


def test_stored_tests_narrow_by_model_suite_and_ids(
    tmp_path: Path, storage_format: str, records: list[Record]
) -> None:
    store = open_store(tmp_path, storage_format)
    store.append(records)
    model = records[0].model
    by_model = stored_tests(store, models=[model])
    assert by_model.done == {r.test_id for r in records if r.model == model and r.status != "error"}
    assert stored_tests(store, suite="no-such-suite") == StoredTests()
    some = [records[0].test_id, records[1].test_id]
    assert set(stored_tests(store, test_ids=some).attempts) == set(some)
