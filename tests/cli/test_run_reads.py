"""A run reads its store once, whatever its size (issue 19 req. 2), through the real command.

Planning reads the store once (``Store.known_tests``: done, attempts and settled errors from the
same read); every claim then reads only the rows appended since, and so does the summary
refresh at the end of a JSON run. Spies on the stores' two ways to read rows count the passes
over the whole store: ``scan_batches`` (every full read goes through it) and ``rows_since``
called without a position.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbench.analysis.summary import refresh_summary
from runbench.matrix import build_matrix
from runbench.plan import plan_tests
from runbench.records import records_to_table
from runbench.runners import session
from runbench.storage import open_store
from runbench.storage.json_store import JsonStore
from runbench.storage.parquet_store import ParquetStore
from runbench.synthetic import synthetic_records
from tests.cli.conftest import Outcome

MODEL = "sim-strong"
PLAN = ("--model", MODEL, "--task-types", "simple_task", "--difficulty", "easy")
PLAN += ("--prompt-types", "optimal", "--num-instances", "6")


@dataclasses.dataclass
class Reads:
    full_scans: int = 0
    since: list[object] = dataclasses.field(default_factory=list)  # positions asked for

    @property
    def from_start(self) -> int:
        return sum(1 for position in self.since if position is None)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen = Reads()
    for cls in (JsonStore, ParquetStore):
        scan_batches, rows_since = cls.scan_batches, cls.rows_since

        def scan_spy(self: Any, *args: Any, _original: Any = scan_batches, **kw: Any) -> Any:
            seen.full_scans += 1
            return _original(self, *args, **kw)

        def since_spy(
            self: Any, position: object, *args: Any, _original: Any = rows_since, **kw: Any
        ) -> Any:
            seen.since.append(position)
            return _original(self, position, *args, **kw)

        monkeypatch.setattr(cls, "scan_batches", scan_spy)
        monkeypatch.setattr(cls, "rows_since", since_spy)
    return seen


def _filled(root: Path, storage: str) -> None:
    """A store holding other tests' rows, its summary up to date (as an import leaves it)."""
    store = open_store(root, storage)
    try:
        store.append_table(records_to_table(list(synthetic_records(3000, seed=21))))
        refresh_summary(store)
    finally:
        store.close()


def _planned() -> list[str]:
    matrix = build_matrix(
        num_instances=6,
        prompt_types="optimal",
        difficulties="easy",
        task_types="simple_task",
    )
    return [test.test_id for test in plan_tests(matrix.cells([MODEL]), 6)]


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_run_reads_its_store_once_and_claims_and_summary_read_only_new_rows(
    tmp_path: Path, invoke: Callable[..., Outcome], reads: Reads, storage: str
) -> None:
    _filled(tmp_path, storage)
    reads.full_scans, reads.since = 0, []
    outcome = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--storage", storage, "--json")
    assert outcome.code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["finished"] == 6
    assert reads.full_scans == 0, "no whole-store scan: planning, claims, summary"
    assert reads.from_start == 1, "one planning read (known tests, settled errors included)"
    assert len(reads.since) > 1, "claims (and the summary) read the rows appended since"
    if storage == "json":
        summary = json.loads((tmp_path / "json" / "summary.json").read_text())
        assert summary["summary"]["total"] == 3000 + 6 - _errors(tmp_path, storage)


def _errors(root: Path, storage: str) -> int:
    """Rows the summary leaves out: infrastructure errors (the synthetic rows hold some)."""
    store = open_store(root, storage, create=False)
    try:
        table = store.scan(["status"])
    finally:
        store.close()
    return sum(1 for status in table.column("status").to_pylist() if status == "error")


@pytest.mark.parametrize("storage", ["json", "parquet"])
def test_a_test_another_process_finished_after_planning_is_never_run(
    tmp_path: Path,
    invoke: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
    storage: str,
) -> None:
    _filled(tmp_path, storage)  # planning reaches a position in existing files
    planned = _planned()
    taken = planned[3]
    template = next(r for r in synthetic_records(50, seed=2) if r.status == "failure")
    other_result = dataclasses.replace(template, test_id=taken, run_id="another-run")
    original = session.prepare

    def prepare_then_another_run_stores(*args: Any, **kwargs: Any) -> Any:
        prepared = original(*args, **kwargs)  # the planning read is done here
        other = open_store(tmp_path, storage)  # another writer, with its own files
        try:
            other.append([other_result])
        finally:
            other.close()
        return prepared

    monkeypatch.setattr(session, "prepare", prepare_then_another_run_stores)
    outcome = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--storage", storage, "--json")
    # exit 1: this process did not see that test done itself (runbench/runners/summary.py)
    assert outcome.code == 1, outcome.stderr
    summary = json.loads(outcome.stdout)
    assert (summary["finished"], summary["claimed_elsewhere"], summary["errors"]) == (5, 1, 0)
    store = open_store(tmp_path, storage, create=False)
    try:
        rows = store.scan(["test_id", "run_id"]).to_pylist()
    finally:
        store.close()
    ours = [row["test_id"] for row in rows if row["test_id"] in set(planned)]
    assert sorted(ours) == sorted(planned), "each planned test once"
    assert [row["run_id"] for row in rows if row["test_id"] == taken] == ["another-run"]
