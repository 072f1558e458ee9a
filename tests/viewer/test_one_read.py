"""The viewer reads the store once per version of its files, for every query, filter and plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runbench.records import records_to_table
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from runbench.viewer.app import create_app
from runbench.viewer.state import RUNS_SHOWN
from tests.analysis.conftest import make_record
from tests.analysis.test_runs import manifest


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_page_plot_filters_and_polls_share_one_read_per_version(
    tmp_path: Path, storage: str, scans: list[int]
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
    assert scans[0] == 1
    store.append([make_record("sim-new", "full_success", instance=0)])
    state = client.get("/api/state").json()
    assert state["rows"] == 901 and "sim-new" in state["options"]["model"]
    client.get("/plot.svg")
    assert scans[0] == 2


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
