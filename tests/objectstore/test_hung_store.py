"""A store that stops answering (moto's server SIGSTOPped) or answers slowly, through the CLI.

The product promise: a hung store never hangs runbench, never loses or doubles a result, and is
reported in one line. These tests stop a real moto server process of their own (the session's
server is shared by the other tests) with ``RUNBENCH_S3_TIMEOUT=3``, so each bound is short.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.errors import StoreNotAnswering
from runbench.runners.engine import STOP_GRACE_S
from runbench.storage import open_store
from runbench.storage.bucket import Bucket
from tests.conftest import run_cli
from tests.fakes.s3_server import MotoServer, SlowProxy, start_moto
from tests.objectstore.conftest import S3

MODEL = "hung-sim"
# RUNBENCH_S3_TIMEOUT where the store is stopped: one request, all attempts, may take 3 s (a
# store that answers gets the default, so a loaded machine cannot make it look silent)
HUNG_TIMEOUT_S = "3"
# the stopped run's own bound: far beyond the test's patience, so only the stop's grace
# (STOP_GRACE_S, Store.hurry) can end it
STOPPED_RUN_TIMEOUT_S = "600"


@pytest.fixture
def own_moto() -> Iterator[MotoServer]:
    """A moto server this test alone uses, so stopping it stops nobody else's store."""
    server = start_moto()
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
        server.close()


def _bucket(endpoint: str, tmp_path: Path) -> S3:
    made = S3(endpoint, f"rb-{uuid.uuid4().hex[:12]}", tmp_path / "cache")
    made.client().create_bucket(Bucket=made.bucket)
    return made


def _plan(tmp_path: Path, latency_ms: int, instances: int) -> tuple[str, ...]:
    config = tmp_path / "runbench.toml"
    config.write_text(
        f'[models.{MODEL}]\nprovider = "sim"\nprofile = "average"\nlatency_ms = {latency_ms}\n'
    )
    return (
        "--model",
        MODEL,
        "--phase",
        "5.1",
        "--num-instances",
        str(instances),
        "--config",
        str(config),
    )


def _env(s3: S3, timeout_s: str | None = HUNG_TIMEOUT_S) -> dict[str, str]:
    # every append uploads its row: a run keeps talking to the store
    env = {**s3.env(), "RUNBENCH_UPLOAD_ROWS": "1"}
    if timeout_s is not None:
        env["RUNBENCH_S3_TIMEOUT"] = timeout_s
    return env


def _start(s3: S3, tmp_path: Path, plan: tuple[str, ...]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.pop("STORAGE_FORMAT", None)
    env.update(_env(s3, timeout_s=STOPPED_RUN_TIMEOUT_S))
    return subprocess.Popen(
        [sys.executable, "-m", "runbench", "smart-batch", *plan, "--store", s3.url,
         "--max-workers", "2", "--quiet", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _one_silence_line(stderr: str, s3: S3) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    assert f"store at {s3.url} not answering for" in errors[0], stderr
    assert "Traceback" not in stderr, stderr


def _rows(s3: S3, tmp_path: Path) -> list[dict[str, object]]:
    reader = open_store("", "parquet", remote=s3.settings(tmp_path / "cache-reader"))
    rows: list[dict[str, object]] = reader.scan(["test_id", "run_id"]).to_pylist()
    return rows


def test_a_stopped_store_ends_a_run_in_one_line_and_the_resume_runs_exactly_the_rest(
    own_moto: MotoServer, tmp_path: Path
) -> None:
    s3 = _bucket(own_moto.url, tmp_path)
    plan = _plan(tmp_path, latency_ms=100, instances=6)
    run = _start(s3, tmp_path, plan)
    while len(s3.keys("parquet/parts")) < 3:  # wait until it has stored a few rows
        assert run.poll() is None, run.communicate()
        time.sleep(0.05)
    os.kill(own_moto.process.pid, signal.SIGSTOP)  # the store hangs mid-run
    run.send_signal(signal.SIGTERM)  # and the user stops the run
    out, err = run.communicate(timeout=120)  # a safety net only: it used to take minutes
    assert STOP_GRACE_S < 120 < float(STOPPED_RUN_TIMEOUT_S)
    assert run.returncode == 2, err  # an operational failure (README, exit codes)
    _one_silence_line(err, s3)
    first = json.loads(out)
    assert first["error"].startswith(f"store at {s3.url} not answering")

    for command in ("status", "report"):  # reads of the hung store: one line too
        read = run_cli(command, *plan, "--store", s3.url, cwd=tmp_path, env=_env(s3))
        assert read.returncode == 2, read.stderr
        _one_silence_line(read.stderr, s3)

    os.kill(own_moto.process.pid, signal.SIGCONT)  # the store is back
    back = _env(s3, timeout_s=None)
    resumed = run_cli(
        "smart-batch", *plan, "--store", s3.url, "--quiet", "--json", cwd=tmp_path, env=back
    )
    assert resumed.returncode == 0, resumed.stderr
    second = json.loads(resumed.stdout)
    rows = _rows(s3, tmp_path)
    per_test = Counter(str(row["test_id"]) for row in rows)
    assert len(per_test) == second["planned"], "every planned test is stored"
    assert set(per_test.values()) == {1}, "no test was run twice"
    by_run = Counter(str(row["run_id"]) for row in rows)
    stored_first = by_run[first["run_id"]]
    assert first["finished"] <= stored_first, "a test counted done has its row stored"
    assert 0 < stored_first < second["planned"], "the store stopped mid-run"
    assert second["finished"] == second["planned"] - stored_first, "the resume ran the rest"
    verify = run_cli("verify", "--store", s3.url, cwd=tmp_path, env=back)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_slow_store_within_the_bound_completes_a_run(
    own_moto: MotoServer, tmp_path: Path
) -> None:
    proxy = SlowProxy(own_moto.url, delay_s=0.15)  # 50 times moto, under 1 s an attempt
    try:
        s3 = _bucket(proxy.url, tmp_path)
        plan = _plan(tmp_path, latency_ms=0, instances=2)
        env = {**s3.env(), "RUNBENCH_S3_TIMEOUT": "3"}  # rows uploaded at the end, as by default
        done = run_cli(
            "smart-batch", *plan, "--store", s3.url, "--quiet", "--json", cwd=tmp_path, env=env
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        per_test = Counter(str(row["test_id"]) for row in _rows(s3, tmp_path))
        assert len(per_test) == summary["planned"] == summary["finished"]
        assert set(per_test.values()) == {1}
    finally:
        proxy.close()


def test_once_the_store_is_silent_the_next_requests_fail_unsent_until_a_bound_passed(
    own_moto: MotoServer, tmp_path: Path
) -> None:
    s3 = _bucket(own_moto.url, tmp_path)
    bucket = Bucket(dataclasses.replace(s3.settings(), request_timeout_s=2.0))
    real = bucket.client
    sent: list[str] = []

    class Counting:  # the real client, counting the requests handed to it
        def __getattr__(self, name: str) -> object:
            sent.append(name)
            return getattr(real, name)

    bucket._client = Counting()  # type: ignore[assignment]
    os.kill(own_moto.process.pid, signal.SIGSTOP)
    with pytest.raises(StoreNotAnswering, match=f"store at {s3.url} not answering for"):
        bucket.get("parquet/claims/book.json")
    for later in (lambda: bucket.put("parquet/runs/x.json", b"{}"), lambda: bucket.list("x")):
        with pytest.raises(StoreNotAnswering):  # a run's end: drain, release, manifest, upload
            later()
    assert sent == ["get_object"], "requests after the silence were not sent"
    os.kill(own_moto.process.pid, signal.SIGCONT)
    time.sleep(bucket.settings.request_timeout_s)  # let the silence window pass
    assert bucket.get("parquet/claims/book.json") is None, "the store is asked again"


def test_ultra_parallel_on_a_stopped_store_ends_in_one_line_for_all_its_shards(
    own_moto: MotoServer, tmp_path: Path
) -> None:
    s3 = _bucket(own_moto.url, tmp_path)
    plan = _plan(tmp_path, latency_ms=100, instances=6)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.pop("STORAGE_FORMAT", None)
    env.update(_env(s3, timeout_s=STOPPED_RUN_TIMEOUT_S))
    run = subprocess.Popen(
        [sys.executable, "-m", "runbench", "ultra-parallel", *plan, "--store", s3.url,
         "--num-shards", "2", "--max-workers", "2", "--quiet", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    while len(s3.keys("parquet/parts")) < 3:
        assert run.poll() is None, run.communicate()
        time.sleep(0.05)
    os.kill(own_moto.process.pid, signal.SIGSTOP)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, err  # as smart-batch: the store's failure, not 130
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith("Error: shards 0, 1: store at ") and "not answering" in errors[0]
    assert "Traceback" not in err, err
    summary = json.loads(out)
    assert summary["finished"] > 0, "what the shards finished before the store hung is counted"


def _get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_viewer_on_a_stopped_store_answers_503_with_the_one_line_and_recovers(
    own_moto: MotoServer, tmp_path: Path
) -> None:
    """A poll of a silent store is the store's failure said plainly (503, the error line), not
    an Internal Server Error with a traceback in the viewer's log at every poll."""
    from tests.fakes.s3_server import free_port

    s3 = _bucket(own_moto.url, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNBENCH_"))}
    env.pop("STORAGE_FORMAT", None)
    env.update(_env(s3))
    ran = run_cli("smart-batch", *_plan(tmp_path, 0, 1), "--store", s3.url, "--quiet", env=env)
    assert ran.returncode == 0, ran.stderr
    port = free_port()
    viewer = subprocess.Popen(
        [sys.executable, "-m", "runbench", "view", "--store", s3.url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert viewer.stderr is not None
        for line in viewer.stderr:
            if "viewer at http://" in line:
                break
        url = f"http://127.0.0.1:{port}/"
        assert _get(url + "api/state")[0] == 200
        os.kill(own_moto.process.pid, signal.SIGSTOP)
        try:
            status, body = _get(url + "api/state")
            assert status == 503, body
            assert f"store at {s3.url} not answering for" in json.loads(body)["error"]
            status, body = _get(url)
            assert status == 503 and "not answering" in body
        finally:
            os.kill(own_moto.process.pid, signal.SIGCONT)
        while (answered := _get(url + "api/state"))[0] == 503:  # until one bound has passed
            time.sleep(0.2)
        assert answered[0] == 200, answered
    finally:
        viewer.send_signal(signal.SIGINT)
        _, err = viewer.communicate(timeout=60)
    assert "Traceback" not in err, err
