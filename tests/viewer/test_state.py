from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbench.storage import open_store
from runbench.viewer.state import StateCache, ViewQuery, build_state, store_version
from tests.analysis.conftest import make_record
from tests.analysis.test_runs import WithManifests, manifest


def test_the_store_version_changes_with_every_append_and_only_then(tmp_path: Path) -> None:
    for storage in ("json", "parquet"):
        store = open_store(tmp_path / storage, storage)
        store.append([make_record("m", "full_success", instance=0)])
        before = store_version(store)
        assert store_version(store) == before
        (store.root / "transcripts" / "r").mkdir(parents=True)
        (store.root / "transcripts" / "r" / "t-1.json").write_text("[]")
        assert store_version(store) == before  # transcripts do not change the rows
        store.append([make_record("m", "failure", instance=1)])
        assert store_version(store) != before, storage
        store.close()


def test_the_cache_answers_only_for_the_same_version_and_stays_bounded() -> None:
    cache = StateCache(size=2)
    state: dict[str, Any] = {"fingerprint": "x"}
    cache.put(("a",), "v1", state)
    assert cache.get(("a",), "v1") is state
    assert cache.get(("a",), "v2") is None
    cache.put(("b",), "v1", state)
    cache.put(("c",), "v1", state)
    assert cache.get(("a",), "v1") is None  # the oldest entry went


def test_state_lists_runs_from_manifests_with_their_command(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    store.append([make_record("m", "full_success", instance=0)])
    wrapped = WithManifests(
        store, [manifest("abcdef12-run", "2026-11-02T09:00:00+00:00", "2026-11-02T09:05:00+00:00")]
    )
    state = build_state(wrapped, ViewQuery())  # type: ignore[arg-type]
    runs = state["fragments"]["runs"]
    assert "abcdef12" in runs and "runbench smart-batch --model sim-strong" in runs
    assert json.loads(json.dumps(state))["tests"] == 1


def test_the_newest_tests_are_found_even_when_recent_rows_repeat_a_few_tests() -> None:
    import pandas as pd
    import pyarrow as pa

    from runbench.viewer.state import TESTS_SHOWN, _newest_tests

    # 5,000 old tests, then 6,000 newer rows that are attempts of only three tests
    old = [(f"t{index:05d}", index) for index in range(5000)]
    repeats = [(f"hot{index % 3}", 10_000 + index) for index in range(6000)]
    frame = pd.DataFrame(old + repeats, columns=["test_id", "recorded_at"]).sample(
        frac=1, random_state=1
    )
    newest = _newest_tests(pa.Table.from_pandas(frame, preserve_index=False))
    expected = ["hot2", "hot1", "hot0", *(f"t{index:05d}" for index in range(4999, 4802, -1))]
    assert list(newest["test_id"]) == expected
    assert len(newest) == TESTS_SHOWN
    few = frame.head(50).sort_values("recorded_at", ascending=False)
    few_rows = pa.Table.from_pandas(few, preserve_index=False)
    assert list(_newest_tests(few_rows)["test_id"]) == list(few["test_id"].drop_duplicates())


def test_repeated_ids_are_exact_when_ids_share_a_prefix_or_differ_in_width() -> None:
    import pyarrow as pa

    from runbench.viewer.rows import _repeated_within

    def ids(*chunks: list[str]) -> pa.Table:
        arrays = [pa.array(chunk, type=pa.string()) for chunk in chunks]
        return pa.table({"test_id": pa.chunked_array(arrays, type=pa.string())})

    same_prefix = ["abcdefgh" + "0" * 24, "abcdefgh" + "1" * 24, "abcdefgh" + "0" * 24]
    # a repeat across chunks, and two ids that share their first 8 bytes without being equal
    assert _repeated_within(ids(same_prefix[:2], [same_prefix[2], "z" * 32])) == {same_prefix[0]}
    assert _repeated_within(ids(same_prefix[:2], ["z" * 32])) == frozenset()
    assert _repeated_within(ids(["a" * 32, "short", "short"], [])) == {"short"}  # uneven widths
    assert _repeated_within(ids(["x" * 32, "x" * 32], ["x" * 32]).slice(1)) == {"x" * 32}
