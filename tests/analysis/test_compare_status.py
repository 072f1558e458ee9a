from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbench.analysis.compare import compare_models
from runbench.errors import UsageError
from runbench.matrix import build_matrix
from runbench.storage import open_store
from tests.analysis.conftest import make_record
from tests.conftest import InProcessCli


def test_compare_pairs_identical_instances_and_leaves_out_the_rest(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    outcomes_a = ["full_success", "full_success", "failure", "failure", "full_success"]
    outcomes_b = ["full_success", "failure", "full_success", "failure", "failure"]
    store.append([make_record("a", s, instance=i) for i, s in enumerate(outcomes_a)])
    store.append([make_record("b", s, instance=i) for i, s in enumerate(outcomes_b)])
    store.append(
        [
            make_record("a", "full_success", instance=9),
            make_record("b", "failure", instance=7),
            make_record("b", "failure", instance=8),
        ]
    )
    comparison = compare_models(store, "a", "b")
    overall = comparison.overall
    assert (overall.both, overall.only_a, overall.only_b, overall.neither) == (1, 2, 1, 1)
    assert (comparison.unpaired_a, comparison.unpaired_b) == (1, 2)
    assert overall.p_value == pytest.approx(1.0)
    assert overall.difference == pytest.approx(0.2)
    assert list(comparison.by_prompt_type) == ["optimal"]


def test_compare_refuses_an_unknown_model_listing_known_ones(tmp_path: Path) -> None:
    store = open_store(tmp_path, "json")
    store.append([make_record("a", "full_success")])
    with pytest.raises(UsageError, match="models with results: a"):
        compare_models(store, "a", "nobody")


def test_status_counts_done_and_errored_tests_and_gates_ci(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    matrix = build_matrix(task_types="simple_task", num_instances=3)
    store = open_store(tmp_path, "json")
    store.append(
        [
            make_record("m", "full_success", instance=0),
            make_record("m", "error", instance=1),
            make_record("m", "failure", instance=2),
        ]
    )
    args = [
        "status",
        "--model",
        "m",
        "--store",
        str(tmp_path),
        "--task-types",
        "simple_task",
        "--num-instances",
        "3",
        "--json",
    ]
    result = cli_in_process(*args)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["done"], summary["target"], summary["cells"][0]["errored"]) == (2, 3, 1)
    assert len(matrix.cells(["m"])) == 1
    store.append([make_record("m", "partial_success", instance=1, attempt=2, run_id="run-2")])
    assert cli_in_process(*args).returncode == 0


def test_status_rejects_bad_matrix_values(tmp_path: Path, cli_in_process: InProcessCli) -> None:
    for flag, value, message in [
        ("--tool-success-rate", "1.5", "outside [0, 1]"),
        ("--difficulty", "trivial", "unknown value 'trivial'"),
        ("--phase", "9.9", "unknown phase '9.9'"),
    ]:
        result = cli_in_process("status", "--model", "m", "--store", str(tmp_path), flag, value)
        assert result.returncode == 2 and message in result.stderr


def test_compare_resolves_aliases_through_the_config(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    store = open_store(tmp_path, "json")
    store.append([make_record("big-model", "full_success", instance=i) for i in range(3)])
    store.append([make_record("sim-weak", "failure", instance=i) for i in range(3)])
    config = tmp_path / "runbench.toml"
    config.write_text(
        '[models.big-model]\nprovider = "sim"\nprofile = "strong"\naliases = ["Big"]\n'
    )
    result = cli_in_process(
        "compare", "big", "SIM-WEAK", "--store", str(tmp_path), "--config", str(config), "--json"
    )
    assert result.returncode == 0, result.stderr
    overall = json.loads(result.stdout)["overall"]
    assert (overall["only_a"], overall["pairs"]) == (3, 3)
