"""The viewer reads the store once per version of its files, for every query, filter and plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from runbench.records import records_to_table
from runbench.storage import Store, open_store
from runbench.storage.parquet_store import ParquetStore
from runbench.synthetic import synthetic_records
from runbench.viewer.app import create_app
from runbench.viewer.state import RUNS_SHOWN, ViewQuery, build_state
from tests.analysis.conftest import make_record
from tests.analysis.test_runs import manifest


def _fresh_state(store: Store) -> dict[str, Any]:
    return build_state(store, ViewQuery())


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_page_plot_filters_and_polls_share_one_read_and_polls_read_only_new_rows(
    tmp_path: Path, storage: str, scans: list[int], since_reads: list[tuple[bool, int]]
) -> None:
    store = open_store(tmp_path, storage)
    store.append_table(records_to_table(list(synthetic_records(900, seed=5, run_id="r" * 8))))
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    assert client.get("/").status_code == 200
    assert client.get("/plot.svg").headers["content-type"].startswith("image/svg")
    narrow = client.get("/api/state", params={"model": "sim-weak", "difficulty": "easy"}).json()
    plot = client.get("/plot.svg", params={"model": "sim-weak", "difficulty": "easy"})
    assert plot.status_code == 200
    assert client.get("/api/state").json()["rows"] == 900
    assert 0 < narrow["rows"] < 900 and "sim-strong" not in narrow["fragments"]["results"]
    assert since_reads == [(True, 900)] and scans[0] == 0, "one read for all of them"
    store.append([make_record("sim-new", "full_success", instance=0)])
    state = client.get("/api/state").json()
    assert state["rows"] == 901 and "sim-new" in state["options"]["model"]
    client.get("/plot.svg")
    assert since_reads[1:] == [(False, 1)], "the poll read only the appended row"
    assert state["fingerprint"] == _fresh_state(store)["fingerprint"], "as if read afresh"
    rerun = make_record("sim-new", "failure", instance=0, attempt=2, run_id="run-2", minutes=5)
    store.append([rerun])  # a test seen before: only its latest row may count
    state = client.get("/api/state").json()
    assert since_reads[2:] == [(False, 1)]
    assert state["rows"] == 902 and state["tests"] == 901
    assert state["fingerprint"] == _fresh_state(store)["fingerprint"], "the re-run counts once"
    store.append(
        [
            make_record("sim-new", "error", instance=1),  # a test that only errored
            make_record("sim-new", "error", instance=0, attempt=3, run_id="run-3", minutes=6),
        ]
    )
    state = client.get("/api/state").json()
    stored = set(store.scan(["test_id"]).column("test_id").to_pylist())
    assert state["rows"] == 904 and state["tests"] == len(stored) == 902
    assert state["fingerprint"] == _fresh_state(store)["fingerprint"]


def test_rows_read_again_after_a_seal_or_a_json_compact_are_counted_once(
    tmp_path: Path, since_reads: list[tuple[bool, int]]
) -> None:
    records = list(synthetic_records(60, seed=8, run_id="s" * 8))
    parquet = ParquetStore(tmp_path / "p", segment_rows=10_000)  # rows wait in a segment
    parquet.append(records[:40])
    client = TestClient(create_app(parquet), base_url="http://127.0.0.1")
    assert client.get("/api/state").json()["rows"] == 40
    parquet.append(records[40:])
    parquet.close()  # sealed into a part: its 60 rows are delivered again with the 20 new
    state = client.get("/api/state").json()
    assert since_reads[-1] == (False, 60) and state["rows"] == 60
    assert state["fingerprint"] == _fresh_state(parquet)["fingerprint"]

    json_store = open_store(tmp_path / "j", "json")
    json_store.append(records[:30])
    with open(tmp_path / "j" / "json" / "records.jsonl", "ab") as handle:
        handle.write(b"damaged\n")
    client = TestClient(create_app(json_store), base_url="http://127.0.0.1")
    assert client.get("/api/state").json()["rows"] == 30
    json_store.compact()  # a new file: read again from its start
    json_store.append(records[30:])
    state = client.get("/api/state").json()
    assert since_reads[-1] == (False, 60) and state["rows"] == 60
    assert state["fingerprint"] == _fresh_state(json_store)["fingerprint"]


def test_the_runs_list_is_paged_and_a_poll_keeps_the_page(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    store.append([make_record("m", "full_success", instance=0)])
    total = RUNS_SHOWN * 2 + 7
    for index in range(total):
        minute = f"{index // 60:02d}:{index % 60:02d}"
        store.write_manifest(manifest(f"run{index:05d}-x", f"2026-11-02T{minute}:00+00:00"))
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    first = client.get("/").text
    assert first.count("<code>") == RUNS_SHOWN and "run00106" in first and "run00056" not in first
    assert f"page 1 of 3 ({total} runs)" in first and "older runs" in first
    last = client.get("/api/state", params={"runs_page": "2"}).json()["fragments"]["runs"]
    assert last.count("<code>") == 7 and "run00000" in last and "newer runs" in last
    page = client.get("/", params={"runs_page": "1"}).text
    assert "name='runs_page' value='1'" in page  # the form a poll sends carries the page
    assert client.get("/api/state", params={"runs_page": "x"}).status_code == 400


def test_a_poll_redraws_the_plot_only_when_what_it_shows_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runbench.viewer.app as viewer_app

    drawn: list[int] = []
    original = viewer_app.report_svg

    def counting(report: Any) -> str:
        drawn.append(1)
        return original(report)

    monkeypatch.setattr(viewer_app, "report_svg", counting)
    store = open_store(tmp_path, "parquet")
    store.append_table(records_to_table(list(synthetic_records(300, seed=6, run_id="r" * 8))))
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    first = client.get("/plot.svg").text
    errors_before = client.get("/api/state").json()["fragments"]["hidden"]
    store.append([make_record("sim-weak", "error", instance=10_000)])  # no rate moves
    assert client.get("/api/state").json()["fragments"]["hidden"] != errors_before
    assert client.get("/plot.svg").text == first and len(drawn) == 1
    store.append([make_record("sim-new", "full_success", instance=0)])  # a new bar
    assert "sim-new" in client.get("/plot.svg").text and len(drawn) == 2


def test_a_store_file_that_fails_its_read_is_a_503_with_one_line_and_the_viewer_recovers(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path, "json")
    store.append(list(synthetic_records(20, seed=4)))
    client = TestClient(create_app(store), base_url="http://127.0.0.1")
    assert client.get("/api/state").status_code == 200
    records = tmp_path / "json" / "records.jsonl"
    records.rename(tmp_path / "aside.jsonl")
    records.mkdir()  # the file a poll reads is now a folder: an OSError, not a StoreError
    answer = client.get("/api/state")
    assert answer.status_code == 503
    assert answer.json()["error"].startswith("Is a directory: "), answer.text
    page = client.get("/")
    assert page.status_code == 503 and "Is a directory" in page.text
    records.rmdir()
    (tmp_path / "aside.jsonl").rename(records)
    assert client.get("/api/state").json()["rows"] == 20, "the next poll reads again"
    store.close()
