"""Every result command reads the store once: counted by a spy on the stores' one scan method.

``scan`` and ``done_ids`` both go through ``scan_batches``, so counting its calls counts the
passes a command makes over the rows, whatever helper it reads through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runbench.records import records_to_table
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.cli.conftest import Outcome


@pytest.fixture(params=["json", "parquet"])
def counted(
    request: pytest.FixtureRequest, tmp_path: Path, scans: list[int]
) -> tuple[Path, str, list[int]]:
    """A store of 2,000 synthetic rows, and a list that counts the scans made after it is built."""
    storage = str(request.param)
    store = open_store(tmp_path, storage)
    store.append_table(records_to_table(list(synthetic_records(2000, seed=3, run_id="r" * 8))))
    store.close()
    scans[0] = 0
    return tmp_path, storage, scans


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("report", "--model", "sim-strong", "--suite", "workflow"),
        ("report", "--model", "sim-strong", "--plot", "{tmp}/rates.svg"),
        ("status", "--model", "sim-strong,sim-weak", "--num-instances", "3"),
        ("compare", "sim-strong", "sim-weak"),
        ("compare", "sim-strong", "sim-weak", "--difficulty", "easy", "--suite", "workflow"),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_result_command_reads_the_store_once(
    counted: tuple[Path, str, list[int]], invoke: Callable[..., Outcome], args: tuple[str, ...]
) -> None:
    root, storage, scans = counted
    shown = [arg.replace("{tmp}", str(root)) for arg in args]
    outcome = invoke(*shown, "--store", str(root), "--storage", storage)
    assert outcome.code in (0, 1), outcome.stderr  # status exits 1 for an unfinished plan
    assert outcome.stdout.strip()
    assert scans[0] == 1


def test_show_resolves_a_prefix_and_reads_the_test_in_one_pass(
    counted: tuple[Path, str, list[int]], invoke: Callable[..., Outcome]
) -> None:
    root, storage, scans = counted
    test_id = str(open_store(root, storage).scan(["test_id"]).column("test_id")[77])
    scans[0] = 0
    outcome = invoke("show", test_id[:10], "--json", "--store", str(root), "--storage", storage)
    assert outcome.code == 0, outcome.stderr
    assert f'"test_id": "{test_id}"' in outcome.stdout
    assert scans[0] == 1


def test_a_typo_still_reads_again_to_name_the_close_models(
    counted: tuple[Path, str, list[int]], invoke: Callable[..., Outcome]
) -> None:
    root, storage, _ = counted
    outcome = invoke("compare", "sim-strong", "sim-wek", "--store", str(root), "--storage", storage)
    assert outcome.code == 2
    assert "no results for model 'sim-wek'" in outcome.error_lines[0]
    assert "did you mean sim-weak" in outcome.error_lines[0]
