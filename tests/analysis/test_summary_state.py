"""``summary.json`` updated from the rows appended since equals a full recompute, figure for figure.

The property test appends random synthetic rows in random chunks to a real JSON store (re-runs
of tests, infrastructure errors, later judged attempts of counted tests, legacy imports,
a ``compact``), refreshes the summary after each chunk as a run's end does, and compares the
file with ``build_summary`` over every row. Means are exact sums, so equality is exact.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbench.analysis import summary_state
from runbench.analysis.report import load_frame
from runbench.analysis.summary import SUMMARY_COLUMNS, SUMMARY_FILE, build_summary, refresh_summary
from runbench.analysis.summary_state import CHUNKS_FOLDER, STATE_FILE, SummaryState
from runbench.analysis.summary_sums import SCALE, exact_mean, exact_sum, pack_sum, unpack_sum
from runbench.records import Record
from runbench.storage import Store, open_store
from runbench.synthetic import synthetic_records
from tests.fakes.attempts import another_attempt


def _without_stamp(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in summary.items() if key != "generated_at"}


def _full(store: Store) -> dict[str, Any]:
    return _without_stamp(build_summary(load_frame(store, None, None, SUMMARY_COLUMNS)))


def _written(store: Store) -> dict[str, Any]:
    return _without_stamp(json.loads((store.path / SUMMARY_FILE).read_text()))


def _again(record: Record, attempt: int, kind: str) -> Record:
    """Another attempt of ``record``'s test: an infrastructure error or a judged result."""
    if kind == "error":
        return another_attempt(record, attempt, "error", "api_error")
    return another_attempt(record, attempt, "failure", "other_errors")


@st.composite
def _histories(draw: st.DrawFn) -> list[list[Record]]:
    """Chunks of rows as runs and imports would append them."""
    seed = draw(st.integers(0, 10_000))
    rows = list(synthetic_records(draw(st.integers(1, 120)), seed=seed))
    for index in draw(st.lists(st.integers(0, len(rows) - 1), max_size=12)):
        original = rows[index]
        attempt = max(r.attempt for r in rows if r.test_id == original.test_id) + 1
        rows.append(_again(original, attempt, draw(st.sampled_from(["error", "judged"]))))
    for index in draw(st.lists(st.integers(0, len(rows) - 1), max_size=4, unique=True)):
        rows[index] = dataclasses.replace(rows[index], suite="legacy-v3")
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=5)))
    bounds = [0, *cuts, len(rows)]
    return [rows[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_histories(), st.booleans())
def test_the_summary_updated_after_each_append_equals_a_full_recompute(
    chunks: list[list[Record]], compact_midway: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder), "json")
        try:
            for number, chunk in enumerate(chunks):
                if chunk:
                    store.append(chunk)
                if compact_midway and number == len(chunks) // 2:
                    with (store.path / "records.jsonl").open("ab") as handle:
                        handle.write(b"{torn\n")  # damage, so compact rewrites the file
                    store.compact()
                refresh_summary(store)
                assert _written(store) == _full(store)
        finally:
            store.close()


def test_an_update_reads_only_the_rows_appended_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(400, seed=8)))
    refresh_summary(store)  # the first refresh reads every row once, and keeps its position
    kept = SummaryState.read(store.path)
    assert kept is not None and len(kept.counted_ids()) > 0

    positions: list[object] = []
    original = store.rows_since

    def since(position: object, columns: Any = None) -> Any:
        positions.append(position)
        return original(position, columns)

    def no_full_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the summary read the whole store")

    monkeypatch.setattr(store, "rows_since", since)
    monkeypatch.setattr(store, "scan_batches", no_full_read)
    monkeypatch.setattr(store, "scan", no_full_read)
    others = [  # rows of tests not stored yet, as a later run appends them
        dataclasses.replace(record, test_id=format(number, "032x"))
        for number, record in enumerate(synthetic_records(50, seed=9))
    ]
    store.append(others)
    refresh_summary(store)
    assert positions and None not in positions, "only the rows after the kept position"
    monkeypatch.undo()
    assert _written(store) == _full(store)


def test_counted_tests_are_appended_as_chunks_merged_now_and_then_and_strays_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An update writes only the tests it counted (one new chunk), never every counted id."""
    monkeypatch.setattr(summary_state, "MAX_CHUNKS", 3)
    store = open_store(tmp_path, "json")
    chunks = store.path / CHUNKS_FOLDER
    stray = chunks / "0123.arrow"  # what a crash between a chunk and its state leaves
    seen: list[int] = []
    judged: set[str] = set()
    for number in range(7):
        rows = [
            dataclasses.replace(record, test_id=format(number * 1000 + index, "032x"))
            for index, record in enumerate(synthetic_records(20, seed=number))
        ]
        store.append(rows)
        judged.update(record.test_id for record in rows if record.status != "error")
        refresh_summary(store)
        listed = json.loads((store.path / STATE_FILE).read_text())["chunks"]
        assert sorted(path.name for path in chunks.iterdir()) == sorted(listed)
        seen.append(len(listed))
        assert _written(store) == _full(store)
        if number == 1:
            stray.write_bytes(b"not listed")
    assert seen == [1, 2, 3, 1, 2, 3, 1], "one chunk per update, merged past MAX_CHUNKS"
    assert not stray.exists()
    kept = SummaryState.read(store.path)
    assert kept is not None and sorted(kept.counted_ids()) == sorted(judged)
    store.close()


def test_a_state_naming_a_missing_chunk_is_not_used_and_the_summary_is_recomputed(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(60, seed=3)))
    refresh_summary(store)
    for path in (store.path / CHUNKS_FOLDER).iterdir():
        path.unlink()
    assert SummaryState.read(store.path) is None
    store.append(list(synthetic_records(30, seed=4)))
    refresh_summary(store)
    assert _written(store) == _full(store)
    store.close()


_TALLY = {"total": 1, "full": 0, "partial": 0, "counts": {}, "categories": {}}


@pytest.mark.parametrize(
    "state",
    [
        [],
        None,
        "version 2",
        {"version": 2, "position": None, "chunks": [], "leaves": [[["m"] * 5, []]]},
        {
            "version": 2,
            "position": None,
            "chunks": [],
            "leaves": [[["m"] * 5, {**_TALLY, "sums": [], "assisted": [0, 0, 0]}]],
        },
        {
            "version": 2,
            "position": None,
            "chunks": [],
            "leaves": [[["m"] * 5, {**_TALLY, "sums": {"final_score": ["1"]}, "assisted": [0]}]],
        },
        {"version": 2, "position": [], "chunks": {}, "leaves": "none"},
    ],
    ids=["list", "null", "string", "leaf-list", "sums-list", "short-sum", "wrong-kinds"],
)
def test_a_hand_edited_state_of_the_wrong_shape_is_not_used_and_the_summary_is_recomputed(
    tmp_path: Path, state: object
) -> None:
    """A derived file someone edited is ignored like a missing one, never a traceback."""
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(40, seed=5)))
    refresh_summary(store)
    (store.path / STATE_FILE).write_text(json.dumps(state))
    assert SummaryState.read(store.path) is None
    store.append(list(synthetic_records(20, seed=6)))
    refresh_summary(store)
    assert _written(store) == _full(store)
    store.close()


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=60))
def test_exact_sums_are_exact_whatever_the_order(values: list[float]) -> None:
    from fractions import Fraction

    exact = sum((Fraction(value) for value in values), Fraction(0))
    total = exact_sum(np.array(values))
    assert Fraction(total, 1 << SCALE) == exact
    assert exact_sum(np.array(values[::-1])) == total
    assert unpack_sum(pack_sum(total)) == total
    if values:
        assert exact_mean(total, len(values)) == float(exact / len(values))


def _without_line_in_place(path: Path, number: int) -> None:
    """``compact``'s rewrite (a line moved aside) on the same inode, as when the file system
    gives the new file the inode of one the state followed before (inodes are reused)."""
    lines = path.read_bytes().split(b"\n")[:-1]
    del lines[number - 1]
    with open(path, "r+b") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
        handle.truncate()


def test_a_later_row_of_the_same_attempt_and_time_is_counted_as_a_recompute_counts_it(
    tmp_path: Path,
) -> None:
    """Two judged rows of one attempt with one timestamp (an import of the same tests): a full
    recompute keeps the later row in the file, so an update must not keep the earlier one."""
    store = open_store(tmp_path, "json")
    first = list(synthetic_records(40, seed=8))
    store.append(first)
    refresh_summary(store)
    again = [
        dataclasses.replace(record, run_id="another-import", status="failure", success=False)
        for record in first[:10]
    ]
    store.append(again)
    refresh_summary(store)
    assert _written(store) == _full(store)
    store.close()


def test_a_state_of_another_file_on_the_same_inode_is_not_followed(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(40, seed=8)))
    refresh_summary(store)
    later = [
        dataclasses.replace(record, test_id=format(5000 + index, "032x"))
        for index, record in enumerate(synthetic_records(30, seed=9))
    ]
    store.append(later)  # a run killed before its refresh
    _without_line_in_place(store.path / "records.jsonl", 2)
    refresh_summary(store)
    assert _written(store) == _full(store)
    store.close()
