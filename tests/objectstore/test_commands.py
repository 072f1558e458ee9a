"""Every command on an ``s3://`` store, through the installed CLI, against moto on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fakes.s3_server import free_port
from tests.objectstore.conftest import S3

PLAN = ("--model", "sim-strong,sim-weak", "--num-instances", "3")


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_command_works_on_an_s3_store(s3: S3, tmp_path: Path) -> None:
    env = s3.env()
    url = s3.url

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=tmp_path, env=env)

    first = cli("smart-batch", *PLAN, "--store", url, "--quiet", "--json")
    assert json.loads(_ok(first))["finished"] == 30
    assert f"storage: parquet ({url}" in first.stderr
    again = cli("smart-batch", *PLAN, "--store", url)
    assert "nothing to run" in again.stderr + _ok(again)
    assert s3.keys("parquet/parts") and s3.keys("parquet/runs")
    status = cli("status", *PLAN, "--store", url, "--json")
    assert status.returncode == 0, status.stderr  # 0: the plan is complete
    assert "sim-weak" in _ok(cli("report", "--store", url))
    assert "McNemar" in _ok(cli("compare", "sim-strong", "sim-weak", "--store", url))
    assert "smart-batch" in _ok(cli("runs", "--store", url))
    _ok(cli("errors", "--store", url))
    # migrate s3 -> local JSON and local JSON -> another s3 prefix, both verified
    out = _ok(cli("migrate", "--from", "parquet", "--to", "json", "--store", url,
                  "--to-store", str(tmp_path / "local")))  # fmt: skip
    assert "copied 30" in out and "verified 30 rows" in out
    copy = f"s3://{s3.bucket}/copy"
    out = _ok(cli("migrate", "--from", "json", "--to", "parquet", "--store",
                  str(tmp_path / "local"), "--to-store", copy))  # fmt: skip
    assert "copied 30" in out and "verified 30 rows" in out
    assert "sim-weak" in _ok(cli("report", "--store", copy))
    rows = _frame(s3, copy)
    assert len(rows) == 30
    shown = _ok(cli("show", str(rows["test_id"].iloc[0]), "--store", url))
    assert str(rows["test_id"].iloc[0]) in shown
    assert "30 rows" in _ok(cli("verify", "--store", url))
    _ok(cli("compact", "--store", url))
    assert not (tmp_path / "s3:").exists()


def _frame(s3: S3, url: str):  # type: ignore[no-untyped-def]
    """``load_results`` in a process with the store's environment (it reads RUNBENCH_STORE)."""
    code = (
        "import runbench, sys; frame = runbench.load_results(sys.argv[1], 'parquet'); "
        "print(frame.to_json(orient='records'))"
    )
    import pandas as pd

    env = {**s3.env(), "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return pd.DataFrame(json.loads(result.stdout))


def test_the_viewer_serves_an_s3_store(s3: S3, tmp_path: Path) -> None:
    _ok(run_cli("smart-batch", "--model", "sim-strong", "--num-instances", "2", "--store",
                s3.url, "--quiet", cwd=tmp_path, env=s3.env()))  # fmt: skip
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("RUNBENCH_STORE",)}
    environment.update(s3.env())
    viewer = subprocess.Popen(
        [sys.executable, "-m", "runbench", "view", "--store", s3.url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        state = None
        deadline = time.monotonic() + 60
        while state is None and time.monotonic() < deadline and viewer.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state") as reply:
                    state = json.loads(reply.read())
            except OSError:
                time.sleep(0.2)
        assert state is not None, viewer.stderr.read() if viewer.stderr else ""
        assert "sim-strong" in json.dumps(state)
    finally:
        viewer.send_signal(signal.SIGINT)
        viewer.wait(timeout=30)


@pytest.mark.parametrize(
    ("store", "storage", "says"),
    [
        ("gs://bars/team", None, "unsupported store URL scheme 'gs://'"),
        ("az://bars/team", None, "unsupported store URL scheme 'az://'"),
        ("s3:///team", None, "names no bucket"),
        ("s3://", None, "names no bucket"),
        ("s3://bars/team", "json", "a JSON store cannot live on an object store"),
    ],
)
def test_a_store_url_runbench_cannot_open_is_one_line_and_exit_2(
    tmp_path: Path, store: str, storage: str | None, says: str
) -> None:
    args = ["smart-batch", "--model", "sim-strong", "--num-instances", "1", "--store", store]
    result = run_cli(*args, *(["--storage", storage] if storage else []), cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # never a local folder named after the URL


def test_runbench_store_variable_and_a_missing_bucket(s3: S3, tmp_path: Path) -> None:
    env = {**s3.env(), "RUNBENCH_STORE": f"s3://nope-{s3.bucket}/team"}
    result = run_cli("report", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "the bucket does not exist" in result.stderr and "Traceback" not in result.stderr
    assert "testing-secret-value" not in result.stderr
    assert list(tmp_path.iterdir()) == []
    env["RUNBENCH_STORE"] = s3.url
    _ok(run_cli("smart-batch", "--model", "sim-strong", "--num-instances", "1", "--quiet",
                cwd=tmp_path, env=env))  # fmt: skip
    assert s3.keys("parquet/parts")


def test_a_run_on_a_store_that_ignores_conditional_writes_is_refused(
    careless_s3: S3, tmp_path: Path
) -> None:
    result = run_cli("smart-batch", "--model", "sim-strong", "--num-instances", "1", "--store",
                     careless_s3.url, cwd=tmp_path, env=careless_s3.env())  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "does not honour conditional writes" in errors[0]
    assert "Traceback" not in result.stderr
    assert careless_s3.keys("parquet/parts") == [] and careless_s3.keys("parquet/runs") == []
