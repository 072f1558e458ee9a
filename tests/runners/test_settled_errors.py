"""Resume leaves deterministic refusals (invalid_request) alone unless --retry-errors asks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runbench.errors import UsageError
from runbench.records import Record
from runbench.runners.settled import SettledErrors, parse_retry_errors, settled_categories
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.fakes.attempts import another_attempt


def _as(record: Record, attempt: int, category: str | None) -> Record:
    """An error of ``category``, or a judged failure when it is None."""
    return another_attempt(record, attempt, "failure" if category is None else "error", category)


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_only_tests_whose_latest_attempt_is_settled_are_skipped(
    tmp_path: Path, storage: str
) -> None:
    one, two, three, four = (
        dataclasses.replace(r, model="m") for r in synthetic_records(4, seed=3)
    )
    rows = [
        _as(one, 1, "invalid_request"),  # settled
        _as(two, 1, "api_error"),  # an outage: runs again
        _as(three, 1, "invalid_request"),
        _as(three, 2, "api_error"),  # the latest attempt is an outage: runs again
        _as(four, 1, "api_error"),
        _as(four, 2, "invalid_request"),  # the latest attempt is settled
    ]
    store = open_store(tmp_path / "store", storage)
    store.append(rows)
    ids = [one.test_id, two.test_id, three.test_id, four.test_id, "never-stored"]
    try:
        known = store.known_tests()  # the one planning read answers settled too
        settled = SettledErrors(known, settled_categories())
        assert {test_id for test_id in ids if test_id in settled} == {one.test_id, four.test_id}
        retried = SettledErrors(known, settled_categories(parse_retry_errors("invalid_request")))
        assert not any(test_id in retried for test_id in ids)
        store.append([_as(four, 3, None)])  # another run judged it: done, no longer settled
        assert four.test_id not in SettledErrors(store.known_tests(), settled_categories())
    finally:
        store.close()


def test_retry_errors_names_categories_or_all() -> None:
    assert parse_retry_errors(None) == frozenset()
    assert parse_retry_errors("invalid_request, api_error") == {"invalid_request", "api_error"}
    assert "invalid_request" in parse_retry_errors("all")
    assert settled_categories() == {"invalid_request"}
    assert settled_categories(parse_retry_errors("all")) == frozenset()
    with pytest.raises(UsageError, match="unknown category 'context'"):
        parse_retry_errors("context")
