"""A test's claim is released only after its record is durable, in the same critical section.

Released before the append, another run could be granted the test in between and run it again;
a kill -9 between the two would leave the test free and unrecorded. This spies on the append a
claim-holding run makes and reads the lease file at that moment: the test must still be held.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from runbench.storage import open_store
from runbench.synthetic import synthetic_records


def _lease_tests(root: Path, storage_format: str, owner: str) -> dict[str, int]:
    for path in (root / storage_format / "claims").glob("lease-*.json"):
        lease = json.loads(path.read_text())
        if lease["owner"] == owner:
            return dict(lease["tests"])
    return {}


def test_a_claim_is_released_only_after_its_record_is_appended(
    tmp_path: Path, storage_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path, storage_format)
    try:
        record = next(r for r in synthetic_records(20, seed=9) if r.status != "error")
        granted = store.claim([record.test_id], "run-a", 60.0)
        record = dataclasses.replace(record, attempt=granted[record.test_id])
        held_while_appending: list[dict[str, int]] = []
        append = store.append

        def spy(records):  # type: ignore[no-untyped-def]
            held_while_appending.append(_lease_tests(tmp_path, storage_format, "run-a"))
            append(records)

        monkeypatch.setattr(store, "append", spy)
        assert store.append_held([record], "run-a") == []
        assert held_while_appending == [{record.test_id: record.attempt}], "released too early"
        assert record.test_id not in _lease_tests(tmp_path, storage_format, "run-a")
        assert store.claim([record.test_id], "run-b", 60.0) == {}, "done: never granted again"
    finally:
        store.close()
