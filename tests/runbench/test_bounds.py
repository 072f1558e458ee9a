"""Bounded memory on any input: plan sizes checked before planning, dry runs counted, plan files
type-checked one key at a time."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runbench.errors import UsageError
from runbench.matrix import MAX_PLANNED_TESTS, build_matrix
from runbench.planfile import load_plan_file
from runbench.runners.context import context_of_request
from runbench.runners.session import RunRequest, dry_run, planned_dry_run, prepare
from runbench.storage import open_store
from tests.conftest import REPO, InProcessCli


def test_an_absurd_instance_count_is_one_usage_error(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    result = cli_in_process(
        "smart-batch",
        "--model",
        "sim-average",
        "--num-instances",
        "99999999999999999999",
        "--dry-run",
        "--store",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --num-instances 99,999,999,999,999,999,999 is above the limit of 1,000,000 "
        "instances per cell"
    ]


def test_a_plan_above_the_limit_is_refused_before_planning(tmp_path: Path) -> None:
    matrix = build_matrix(
        prompt_types="all_with_flawed", difficulties="all", task_types="all", num_instances=10**6
    )
    assert matrix.planned_tests(3) > MAX_PLANNED_TESTS
    request = RunRequest(models=("sim-average", "sim-weak", "sim-oracle"), matrix=matrix)
    with pytest.raises(UsageError, match="above the limit of 100,000,000"):
        dry_run(request, context_of_request(None, open_store(tmp_path, "json")))
    with pytest.raises(UsageError, match="above the limit of 100,000,000"):
        prepare(request, context_of_request(None, open_store(tmp_path, "json")))


def test_the_counted_dry_run_equals_the_planned_one(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    store = open_store(tmp_path, "json")
    small = build_matrix(prompt_types="all", num_instances=4)
    assert cli_in_process(
        "smart-batch", "--model", "sim-average,sim-weak", "--prompt-types", "all",
        "--num-instances", "3", "--store", str(tmp_path), "--storage", "json", "--quiet",
    ).returncode in (0, 1)  # fmt: skip
    request = RunRequest(models=("sim-average", "sim-weak"), matrix=small)
    context = context_of_request(None, store)
    counted = dry_run(request, context)
    planned = planned_dry_run(prepare(request, context), request.options)
    assert counted.estimated_seconds == pytest.approx(planned.estimated_seconds)
    assert dataclasses.replace(counted, estimated_seconds=0) == dataclasses.replace(
        planned, estimated_seconds=0
    )
    assert (counted.planned, counted.cells) == (2 * 15 * 4, 30)
    assert counted.done >= 2 * 15 * 2, "instances 0..2 were run and mostly succeed"
    assert counted.estimated_seconds > 0


def test_a_ten_million_test_dry_run_is_counted_in_bounded_memory(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from runbench.matrix import build_matrix
        from runbench.runners.context import context_of_request
        from runbench.runners.session import RunRequest, dry_run
        from runbench.storage import open_store

        matrix = build_matrix(prompt_types="all_with_flawed", difficulties="all",
                              task_types="all", rates="0.6,0.7,0.8,0.9", num_instances=10_000)
        request = RunRequest(models=("sim-average",), matrix=matrix)
        store = open_store(Path({str(tmp_path)!r}), "parquet")
        result = dry_run(request, context_of_request(None, store))
        # VmHWM is this process's own peak; ru_maxrss would inherit the forking parent's
        status = Path("/proc/self/status").read_text()
        peak_kib = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM"))
        peak_mib = peak_kib / 1024
        print(result.planned, result.remaining, result.estimated_seconds > 1000, round(peak_mib))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    planned, remaining, has_estimate, peak_mib = result.stdout.split()
    assert (planned, remaining, has_estimate) == ("10000000", "10000000", "True")
    assert int(peak_mib) < 400, f"peak RSS {peak_mib} MiB"


def _plan(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"tool_success_rates": 0.8},
            "'tool_success_rates' must be a list of numbers such as [0.8], got 0.8",
        ),
        ({"num_instances": "ten"}, "'num_instances' must be a whole number ≥ 0, got \"ten\""),
        ({"num_instances": 2.5}, "'num_instances' must be a whole number ≥ 0, got 2.5"),
        ({"num_instances": True}, "'num_instances' must be a whole number ≥ 0, got true"),
        ({"prompt_types": 3}, "'prompt_types' must be a list of names or a comma-separated"),
        ({"difficulties": ["easy", 1]}, "'difficulties' must be a list of names"),
        ({"phase": 5.1}, "'phase' must be a phase name"),
        ({"models": {"a": 1}}, "'models' must be a list of model names"),
        (
            {"num_instances": 10**30},
            "'num_instances' must be at most 1,000,000, got 1000000000000000000000000000000",
        ),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_a_plan_file_with_a_wrong_type_is_one_clear_error(
    tmp_path: Path, document: object, message: str
) -> None:
    path = _plan(tmp_path, document)
    with pytest.raises(UsageError) as caught:
        load_plan_file(path)
    assert message in caught.value.message
    assert caught.value.message.startswith(f"plan file {path}")
    assert "\n" not in caught.value.message


def test_a_plan_file_nested_deeply_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UsageError, match="nested too deeply"):
        load_plan_file(path)


def test_a_plan_file_with_a_wrong_type_fails_the_cli_with_one_line(
    tmp_path: Path, cli_in_process: InProcessCli
) -> None:
    path = _plan(tmp_path, {"models": ["sim-average"], "tool_success_rates": 0.8})
    result = cli_in_process(
        "batch", "--test-config", str(path), "--store", str(tmp_path), "--dry-run"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'tool_success_rates' must be a list of numbers" in result.stderr


def test_a_good_plan_file_still_loads(tmp_path: Path) -> None:
    path = _plan(
        tmp_path,
        {
            "models": "sim-average",
            "prompt_types": ["baseline", "cot"],
            "tool_success_rates": [0.8, 1],
            "num_instances": 7,
        },
    )
    models, matrix = load_plan_file(path)
    assert models == ("sim-average",)
    assert (matrix.prompt_types, matrix.tool_success_rates, matrix.num_instances) == (
        ("baseline", "cot"),
        (0.8, 1.0),
        7,
    )


def test_a_batch_dry_run_counts_new_instances_arithmetically(tmp_path: Path) -> None:
    matrix = build_matrix(prompt_types="all", difficulties="easy,hard", num_instances=5)
    request = RunRequest(models=("sim-average",), matrix=matrix, mode="batch", count=1000)
    counted = dry_run(request, context_of_request(None, open_store(tmp_path, "json")))
    assert (counted.cells, counted.planned, counted.done, counted.remaining) == (
        30,
        30_000,
        0,
        30_000,
    )
    too_many = dataclasses.replace(request, count=10**7)
    for step in (dry_run, prepare):
        with pytest.raises(UsageError, match="--count is above the limit of 1,000,000"):
            step(too_many, context_of_request(None, open_store(tmp_path, "json")))
