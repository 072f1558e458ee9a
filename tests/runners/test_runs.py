"""Runners end to end: the installed CLI against a loopback server with scripted faults."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.compute as pc

from runbench.analysis.runs import list_runs
from runbench.matrix import WORKFLOW_SUITE_VERSION, build_matrix
from runbench.plan import plan_tests
from runbench.storage import open_store
from tests.conftest import run_cli

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"
ONE_TEST = ["--task-types", "simple_task", "--num-instances", "1", "--no-preflight"]


def _config(tmp_path: Path, fake, *deployments: str, sim_latency_ms: int = 0) -> Path:  # type: ignore[no-untyped-def]
    lines = [
        "[providers.fake]",
        'kind = "openai"',
        f'base_url = "{fake.base_url}"',
        'api_key_env = "FAKE_KEY"',
        "max_concurrency = 4",
        "",
        "[models.slow-sim]",
        'provider = "sim"',
        'profile = "average"',
        f"latency_ms = {sim_latency_ms}",
        "",
    ]
    for name in deployments:
        lines += [f'[models."{name}"]', 'provider = "fake"', f'deployments = ["{name}"]', ""]
    path = tmp_path / "runbench.toml"
    path.write_text("\n".join(lines))
    return path


def _run(tmp_path: Path, config: Path, model: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli(
        "smart-batch",
        "--model",
        model,
        "--config",
        str(config),
        "--store",
        str(tmp_path / "store"),
        "--quiet",
        *extra,
        env={"FAKE_KEY": SENTINEL},
    )


def _rows(tmp_path: Path, storage: str = "json") -> list[dict[str, object]]:
    return open_store(tmp_path / "store", storage).scan().to_pylist()


def test_429_retry_after_is_honoured(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    name = f"fail-429-1-{uuid.uuid4().hex[:8]}"
    result = _run(
        tmp_path, _config(tmp_path, fake_openai, name), name, *ONE_TEST, "--max-retries", "2"
    )
    assert result.returncode == 0, result.stderr
    times = [r["at"] for r in fake_openai.requests if r["model"] == name]
    assert times[1] - times[0] >= 1.0, "no request before the Retry-After elapsed"
    (row,) = _rows(tmp_path)
    assert row["status"] != "error" and row["api_retries"] == 1


def test_500s_are_retried_then_succeed(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    name = f"fail-500-2-{uuid.uuid4().hex[:8]}"
    result = _run(
        tmp_path, _config(tmp_path, fake_openai, name), name, *ONE_TEST, "--max-retries", "3"
    )
    assert result.returncode == 0, result.stderr
    (row,) = _rows(tmp_path)
    assert row["status"] != "error" and row["api_retries"] == 2


def test_400_is_not_retried_and_is_an_infrastructure_error(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    before = sum(r["model"] == "http-400" for r in fake_openai.requests)
    result = _run(tmp_path, _config(tmp_path, fake_openai, "http-400"), "http-400", *ONE_TEST)
    assert result.returncode == 1 and "Resume with: runbench smart-batch" in result.stderr
    assert sum(r["model"] == "http-400" for r in fake_openai.requests) == before + 1
    (row,) = _rows(tmp_path)
    assert (row["status"], row["error_category"]) == ("error", "api_error")


def test_401_stops_with_exit_3_and_records_no_model_failure(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    result = _run(
        tmp_path,
        _config(tmp_path, fake_openai, "http-401"),
        "http-401",
        "--phase",
        "5.1",
        "--num-instances",
        "3",
    )
    assert result.returncode == 3
    assert "provider 'fake' stopped" in result.stderr
    assert SENTINEL not in result.stdout + result.stderr
    assert _rows(tmp_path) == []


def test_ultra_parallel_says_once_which_provider_stopped_on_a_rejected_key(
    tmp_path: Path,
    fake_openai,  # type: ignore[no-untyped-def]
) -> None:
    config = _config(tmp_path, fake_openai, "http-401")
    result = run_cli(
        *("ultra-parallel", "--model", "http-401", "--num-shards", "2", "--config", str(config)),
        *("--phase", "5.1", "--num-instances", "2", "--store", str(tmp_path / "store")),
        *("--quiet", "--no-preflight"),
        env={"FAKE_KEY": SENTINEL},
    )
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "provider 'fake' stopped" in errors[0], result.stderr
    assert SENTINEL not in result.stdout + result.stderr


def test_quota_parks_that_provider_while_the_others_finish(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, "quota")
    result = _run(tmp_path, config, "quota,sim-average", "--phase", "5.1", "--num-instances", "2")
    assert result.returncode == 3
    rows = _rows(tmp_path)
    assert {row["model"] for row in rows} == {"sim-average"}
    assert len(rows) == 10 and all(row["status"] != "error" for row in rows)


def test_a_reply_that_never_comes_is_cut_by_the_request_timeout(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    result = _run(
        tmp_path,
        _config(tmp_path, fake_openai, "hang"),
        "hang",
        *ONE_TEST,
        "--request-timeout",
        "0.3",
        "--max-retries",
        "0",
    )
    assert result.returncode == 1
    (row,) = _rows(tmp_path)
    assert row["status"] == "error" and "timed out" in row["error_message"]


def test_a_test_over_its_wall_clock_is_cancelled_and_recorded_as_error(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, sim_latency_ms=200)
    result = _run(tmp_path, config, "slow-sim", *ONE_TEST, "--timeout", "0.3")
    assert result.returncode == 1
    (row,) = _rows(tmp_path)
    assert (row["status"], row["error_category"]) == ("error", "test_timeout")
    retry = _run(tmp_path, config, "slow-sim", *ONE_TEST, "--timeout", "60")
    assert retry.returncode == 0
    attempts = sorted((r["attempt"], r["status"]) for r in _rows(tmp_path))
    assert attempts[0] == (1, "error") and attempts[1][0] == 2 and attempts[1][1] != "error"


def _stored_rows(store: Path) -> int:
    if not (store / "parquet").exists():
        return 0
    reader = open_store(store, "parquet", create=False)
    try:
        return reader.scan(["test_id"]).num_rows
    finally:
        reader.close()


def _wait_until(condition, process: subprocess.Popen, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Poll ``condition`` while ``process`` runs; fail if it never holds or the process ends."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, "the process ended before the awaited moment"
        assert time.monotonic() < deadline, "the awaited moment never came"
        time.sleep(0.05)


def _run_ids(store: Path) -> int:
    if not (store / "parquet").exists():
        return 0
    reader = open_store(store, "parquet", create=False)
    try:
        return len(set(reader.scan(["run_id"]).column("run_id").to_pylist()))
    finally:
        reader.close()


def test_kill_9_then_rerun_leaves_exactly_the_plan(tmp_path: Path, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, sim_latency_ms=15)
    args = [
        sys.executable,
        "-m",
        "runbench",
        "smart-batch",
        "--model",
        "slow-sim",
        "--phase",
        "5.1",
        "--num-instances",
        "8",
        "--config",
        str(config),
        "--store",
        str(tmp_path / "store"),
        "--storage",
        "parquet",
        "--max-workers",
        "4",
        "--quiet",
    ]
    rng = random.Random(5)
    for _ in range(4):
        before = _stored_rows(tmp_path / "store")
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the kill must land while the run writes: after it stored something, before it ends
        _wait_until(lambda b=before: _stored_rows(tmp_path / "store") > b, process)
        time.sleep(rng.uniform(0.0, 0.2))
        assert process.poll() is None, "the run ended before the kill: nothing was tested"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    final = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    planned = {
        t.test_id
        for t in plan_tests(build_matrix(phase_name="5.1", num_instances=8).cells(["slow-sim"]), 8)
    }
    table = open_store(tmp_path / "store", "parquet").scan(["test_id", "status"])
    done = table.filter(pc.not_equal(table.column("status"), "error")).column("test_id").to_pylist()
    assert sorted(done) == sorted(planned), "each planned test done exactly once"
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to run" in again.stdout
    outcomes = [run.outcome for run in list_runs(open_store(tmp_path / "store", "parquet"))]
    assert sorted(outcomes, key=str) == ["finished", *["killed"] * 4], (
        "a run killed with -9 never ended: `runbench runs` says so instead of 'running'"
    )


def test_sigint_stops_cleanly_keeps_finished_tests_and_says_how_to_resume(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, sim_latency_ms=30)
    args = [
        sys.executable,
        "-m",
        "runbench",
        "smart-batch",
        "--model",
        "slow-sim",
        "--phase",
        "5.1",
        "--num-instances",
        "30",
        "--config",
        str(config),
        "--store",
        str(tmp_path / "store"),
        "--quiet",
        "--json",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records = tmp_path / "store" / "json" / "records.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (records.exists() and records.stat().st_size):
        time.sleep(0.05)  # interrupt once tests are being recorded, however loaded the machine
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    summary = json.loads(out)
    assert summary["interrupted"] and 0 < summary["finished"] < 150
    assert "Resume with: runbench smart-batch" in err
    assert len(_rows(tmp_path)) == summary["finished"] + summary["errors"], (
        "every finished test was stored"
    )


def test_bad_input_is_a_one_line_usage_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"models": ["sim-weak"], "colour": 1}')
    cases = [
        (["--model", "sim-averge"], "did you mean sim-average"),
        (
            ["--model", "sim-weak", "--prompt-types", "clever"],
            "unknown value 'clever' for --prompt-types",
        ),
        (["--model", "sim-weak", "--tool-success-rate", "1.5"], "outside [0, 1]"),
        (["--model", "sim-weak", "--shard", "3/2"], "need 0 ≤ i < N"),
        (["--plan", str(plan)], "unknown key 'colour'"),
        (["--model", "sim-weak", "--protocol", "smoke"], "--protocol must be tags or native"),
    ]
    for extra, message in cases:
        result = run_cli("smart-batch", "--store", str(tmp_path / "s"), *extra)
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_batch_adds_new_instances_after_the_highest_stored(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    for _ in range(2):
        result = run_cli(
            "batch",
            "--model",
            "sim-strong",
            "--count",
            "2",
            "--task-types",
            "basic_task",
            "--store",
            store,
            "--quiet",
        )
        assert result.returncode == 0, result.stderr
    instances = sorted(
        row["instance"] for row in open_store(store, "json").scan(["instance"]).to_pylist()
    )
    assert instances == [0, 1, 2, 3]


def test_seed_invocations_work_as_written(tmp_path: Path) -> None:
    plan = tmp_path / "config.json"
    plan.write_text('{"models": ["sim-weak"], "task_types": ["simple_task"], "num_instances": 1}')
    store = str(tmp_path / "store")
    assert run_cli("batch", "--test-config", str(plan), "--store", store, "--quiet").returncode == 0
    result = run_cli(
        "smart-batch",
        "--model",
        "sim-weak",
        "--task-types",
        "simple_task",
        "--num-instances",
        "1",
        "--store",
        store,
        env={"STORAGE_FORMAT": "parquet"},
    )
    assert result.returncode == 0 and "[INFO] storage: parquet" in result.stderr
    debug = run_cli(
        "batch",
        "--model",
        "sim-weak",
        "--task-types",
        "simple_task",
        "--debug",
        "--store",
        store,
        "--quiet",
        env={"STORAGE_FORMAT": "json"},
    )
    assert debug.returncode == 0
    assert list((tmp_path / "store" / "json" / "transcripts").rglob("*.json")), (
        "--debug keeps transcripts"
    )


def test_provider_parallel_finishes_sim_models_when_a_key_is_rejected(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, "http-401")
    before = sum(r["model"] == "http-401" for r in fake_openai.requests)
    result = run_cli(
        "provider-parallel",
        "--models",
        "sim-strong,sim-weak,http-401",
        "--task-types",
        "basic_task",
        "--num-instances",
        "3",
        "--config",
        str(config),
        "--store",
        str(tmp_path / "store"),
        "--quiet",
        env={"FAKE_KEY": SENTINEL},
    )
    assert result.returncode == 3, result.stderr
    assert sum(r["model"] == "http-401" for r in fake_openai.requests) == before + 1, (
        "only the pre-flight request"
    )
    rows = _rows(tmp_path)
    assert sorted({row["model"] for row in rows}) == ["sim-strong", "sim-weak"] and len(rows) == 6
    # --quiet: no table; the stopped provider is one Error line on stderr
    assert "Error: provider 'fake' stopped: fake/http-401: HTTP 401" in result.stderr
    assert result.stdout == "" and SENTINEL not in result.stdout + result.stderr


def test_provider_parallel_takes_every_model_of_a_provider(tmp_path: Path) -> None:
    result = run_cli(
        "provider-parallel",
        "--provider",
        "sim",
        "--task-types",
        "simple_task",
        "--num-instances",
        "1",
        "--store",
        str(tmp_path / "store"),
        "--quiet",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["finished"] == 5
    bad = run_cli("provider-parallel", "--provider", "nobody", "--store", str(tmp_path / "store"))
    assert bad.returncode == 2 and "unknown provider 'nobody'" in bad.stderr


def test_ultra_parallel_runs_each_test_once_and_restarts_a_killed_shard(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path, fake_openai, sim_latency_ms=25)
    store = tmp_path / "store"
    flags = "--model slow-sim --num-shards 3 --phase 5.1 --num-instances 12 --max-workers 3"
    flags += f" --config {config}"
    args = [
        sys.executable,
        "-m",
        "runbench",
        "ultra-parallel",
        *flags.split(),
        "--store",
        str(store),
        "--storage",
        "parquet",
        "--quiet",
        "--json",
    ]
    parent = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline:
        found = subprocess.run(
            ["pgrep", "-P", str(parent.pid), "-f", "shard-worker .*shard-1.json"],
            capture_output=True,
            text=True,
        ).stdout.split()
        victim = int(found[0]) if found else None
        time.sleep(0.1)
    assert victim is not None, "shard 1/3 never started"
    # kill it mid-run: once every shard has stored a row (three run ids in the store)
    _wait_until(lambda: _run_ids(store) >= 3, parent)
    subprocess.run(["kill", "-9", str(victim)], check=True)
    out, err = parent.communicate(timeout=300)
    assert parent.returncode == 0, err
    assert "shard 1/3 died (signal 9); restarting (1 of 1)" in err
    summary = json.loads(out)
    assert summary["planned"] == 60 and summary["shards"]["1"]["restarts"] == 1
    assert summary["exit_code"] == 0 and summary["errors"] == 0
    table = open_store(store, "parquet").scan(["test_id", "status", "model"])
    done = table.filter(pc.not_equal(table.column("status"), "error")).column("test_id").to_pylist()
    assert len(done) == len(set(done)) == 60, "every test exactly once"
    assert set(table.column("model").to_pylist()) == {"slow-sim"}
    assert _run_ids(store) == 4, "the killed shard stored rows before dying, its restart after"


def test_systematic_script_runs_phases_resumes_and_fails_loudly(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "run_systematic_test.sh"
    runbench = str(Path(sys.executable).with_name("runbench"))
    store, log = tmp_path / "store", tmp_path / "run.log"
    command = [
        "bash",
        str(script),
        "--phases",
        "5.1,5.5",
        "--models",
        "sim-strong",
        "--storage",
        "json",
        "--store",
        str(store),
        "--log",
        str(log),
        "--workers",
        "8",
    ]
    env = {"RUNBENCH": runbench, "PATH": "/usr/bin:/bin"}
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    rows = len(open_store(store, "json").scan(["test_id"]))
    assert rows == 100 + 200, "5.1: 5 task types × 20; 5.5: 2 prompt types × 5 × 20"
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and len(open_store(store, "json").scan(["test_id"])) == rows
    assert "nothing to run" in log.read_text()
    broken = subprocess.run(
        [*command[:5], "sim-strong,no-such-model", *command[6:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert broken.returncode == 1 and "FAILED with exit 2" in broken.stdout
    assert subprocess.run(["bash", str(script)], capture_output=True, env=env).returncode == 2


def test_batch_debug_as_written_runs_the_models_of_runbench_toml(tmp_path: Path) -> None:
    (tmp_path / "runbench.toml").write_text(
        '[models.my-sim]\nprovider = "sim"\nprofile = "strong"\n'
    )
    result = run_cli(
        "batch",
        "--debug",
        "--task-types",
        "simple_task",
        cwd=tmp_path,
        env={"STORAGE_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr
    assert "running the models of runbench.toml: my-sim" in result.stderr
    rows = open_store(tmp_path / "runbench_results", "json").scan(["model"]).to_pylist()
    assert rows == [{"model": "my-sim"}]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_cli("batch", "--debug", cwd=empty)
    assert bad.returncode == 2 and "no model to run" in bad.stderr


def test_a_task_library_of_ones_own_gets_its_own_test_ids(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps(
            {
                "task_id": "mine-1",
                "task_type": "simple_task",
                "difficulty": "easy",
                "description": "Read the file.",
                "required_tools": ["file_reader"],
            }
        )
        + "\n"
    )
    store = str(tmp_path / "store")
    args = [
        "smart-batch",
        "--model",
        "sim-oracle",
        "--task-types",
        "simple_task",
        "--num-instances",
        "2",
        "--store",
        store,
        "--quiet",
    ]
    assert run_cli(*args, "--tasks", str(tasks)).returncode == 0
    builtin = run_cli(*args)
    assert builtin.returncode == 0 and "nothing to run" not in builtin.stdout, (
        "the built-in tests still run"
    )
    rows = open_store(store, "json").scan(["suite_version", "task_id"]).to_pylist()
    versions = {row["suite_version"] for row in rows}
    builtin_version = WORKFLOW_SUITE_VERSION
    assert len(rows) == 4 and builtin_version in versions
    assert any(v.startswith(f"{builtin_version}+lib-") for v in versions)
    assert {row["task_id"] for row in rows if row["suite_version"] != builtin_version} == {"mine-1"}


def test_ultra_parallel_takes_a_plan_file(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"models": ["sim-weak"], "task_types": ["basic_task"], "num_instances": 4}')
    result = run_cli(
        "ultra-parallel",
        "--plan",
        str(plan),
        "--num-shards",
        "2",
        "--store",
        str(tmp_path / "s"),
        "--quiet",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["planned"] == summary["finished"] == 4 and summary["model"] == "sim-weak"
    two = tmp_path / "two.json"
    two.write_text('{"models": ["sim-weak", "sim-strong"]}')
    bad = run_cli("ultra-parallel", "--plan", str(two), "--store", str(tmp_path / "s"))
    assert bad.returncode == 2 and "runs one model" in bad.stderr


def test_status_sees_the_tests_of_a_task_library_of_ones_own(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps(
            {
                "task_id": "mine-1",
                "task_type": "simple_task",
                "difficulty": "easy",
                "description": "Read it.",
                "required_tools": ["file_reader"],
            }
        )
        + "\n"
    )
    common = [
        "--model",
        "sim-oracle",
        "--task-types",
        "simple_task",
        "--num-instances",
        "2",
        "--store",
        str(tmp_path / "store"),
    ]
    assert run_cli("smart-batch", *common, "--tasks", str(tasks), "--quiet").returncode == 0
    assert run_cli("status", *common, "--tasks", str(tasks)).returncode == 0
    assert run_cli("status", *common).returncode == 1, "the built-in library's tests are not done"
