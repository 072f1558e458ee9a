"""The notebook API, and the README's recipes for reading raw Parquet parts without runbench."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import runbench
from runbench.errors import UsageError
from tests.analysis.conftest import make_record
from tests.conftest import LEGACY_FIXTURE, run_cli


@pytest.fixture
def parquet_root(tmp_path: Path) -> Path:
    store = runbench.open_store(tmp_path, "parquet")
    store.append(
        [
            make_record("m", "failure", instance=0, turns=3, prompt_tokens=100),
            make_record(
                "m", "full_success", instance=0, attempt=2, run_id="r2", minutes=2, turns=5
            ),
            make_record("m", "error", instance=0, attempt=3, run_id="r3", minutes=4, turns=None),
            make_record("m", "error", instance=1),  # never judged: not a result
            make_record("m", "partial_success", instance=2, turns=7),
        ]
    )
    store.close()
    assert run_cli("compact", "--store", str(tmp_path), "--storage", "parquet").returncode == 0
    result = run_cli(
        "migrate", "--legacy", str(LEGACY_FIXTURE), "--store", str(tmp_path), "--storage", "parquet"
    )
    assert result.returncode == 0, result.stderr
    return tmp_path


def _leave_a_part_twice(root: Path) -> None:
    """What a crash between sealing a merged part and deleting its sources looks like to a raw
    reader: the rows twice (runbench itself skips the sources through the part's metadata)."""
    parts = sorted((root / "parquet" / "parts").glob("*.parquet"))
    shutil.copy(parts[0], parts[0].with_name("part-99999999T000000000000-copy.parquet"))


def test_load_results_defaults_to_the_workflow_suite_like_report(parquet_root: Path) -> None:
    results = runbench.load_results(parquet_root, "parquet")
    assert set(results["suite"]) == {"workflow"}
    assert sorted(results["status"]) == ["full_success", "partial_success"]
    everything = runbench.load_results(parquet_root, "parquet", suite="all")
    assert set(everything["suite"]) == {"workflow", "legacy-v3"}
    with pytest.raises(UsageError, match="its suites: legacy-v3, workflow"):
        runbench.load_results(parquet_root, "parquet", suite="legacy")


def test_integer_columns_stay_integers_even_with_nulls(parquet_root: Path) -> None:
    attempts = runbench.load_attempts(parquet_root, "parquet")
    assert str(attempts["turns"].dtype) == "Int32" and attempts["turns"].isna().sum() == 1
    assert str(attempts["prompt_tokens"].dtype) == "Int64"
    assert str(attempts["attempt"].dtype) == "Int32" and str(attempts["instance"].dtype) == "Int32"
    results = runbench.load_results(parquet_root, "parquet")
    assert results.set_index("instance")["turns"].to_dict() == {0: 5, 2: 7}


def _expected(root: Path) -> set[tuple[str, int, str]]:
    results = runbench.load_results(root, "parquet")
    expected = {(r.test_id, int(r.attempt), r.status) for r in results.itertuples()}
    _leave_a_part_twice(root)
    return expected


def test_the_readme_pandas_recipe_reads_raw_parts_correctly(parquet_root: Path) -> None:
    expected = _expected(parquet_root)
    parts = parquet_root / "parquet" / "parts"
    # --- the README recipe, verbatim ---
    rows = pd.concat(pd.read_parquet(p) for p in sorted(parts.glob("*.parquet")))
    rows = rows.drop_duplicates(["test_id", "attempt", "run_id"])
    rows = rows[(rows["status"] != "error") & (rows["suite"] == "workflow")]
    results = rows.sort_values(["attempt", "recorded_at"]).drop_duplicates("test_id", keep="last")
    # ---
    assert {(r.test_id, int(r.attempt), r.status) for r in results.itertuples()} == expected


def test_the_readme_duckdb_recipe_reads_raw_parts_correctly(parquet_root: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="DuckDB is optional; pip install duckdb")
    expected = _expected(parquet_root)
    pattern = str(parquet_root / "parquet" / "parts" / "*.parquet")
    # --- the README recipe, verbatim ---
    query = """
        SELECT * FROM (SELECT DISTINCT ON (test_id, attempt, run_id) * FROM read_parquet(?))
        WHERE status <> 'error' AND suite = 'workflow'
        QUALIFY row_number() OVER (
            PARTITION BY test_id ORDER BY attempt DESC, recorded_at DESC) = 1
    """
    results = duckdb.execute(query, [pattern]).df()
    # ---
    assert {(r.test_id, int(r.attempt), r.status) for r in results.itertuples()} == expected


def test_latest_results_given_the_repeated_ids_picks_the_same_rows(tmp_path: Path) -> None:
    """The viewer's hint (ids with several rows) selects exactly what hashing every id does."""
    from runbench.analysis.report import frame_of
    from runbench.analysis.results import latest_results
    from runbench.storage import open_store
    from tests.analysis.conftest import make_record

    store = open_store(tmp_path, "parquet")
    store.append(
        [
            make_record("m", "failure", instance=0),
            make_record("m", "full_success", instance=0, attempt=2, run_id="run-2", minutes=3),
            make_record("m", "error", instance=1),
            make_record("m", "partial_success", instance=1, attempt=2, run_id="run-2"),
            make_record("m", "full_success", instance=2, attempt=3, run_id="run-3", minutes=9),
            make_record("m", "error", instance=2, attempt=4, run_id="run-4", minutes=10),
            make_record("m", "failure", instance=3),
        ]
    )
    frame = frame_of(store.scan(), None)
    counts = frame["test_id"].value_counts()
    repeated = set(counts[counts > 1].index)
    assert len(repeated) == 3
    expected = latest_results(frame).sort_index()
    assert latest_results(frame, repeated).sort_index().equals(expected)
    assert len(expected) == 4 and set(expected["status"]) == {
        "full_success",
        "partial_success",
        "failure",
    }
    assert latest_results(frame, set()).equals(frame[frame["status"] != "error"])
