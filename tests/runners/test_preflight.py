"""Pre-flight against unusable endpoints: one line each, the others go on, bounded, cancellable."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.chat import ModelClient
from runbench.clients.openai_client import OpenAIChatClient
from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig
from runbench.errors import EXIT_CREDENTIALS, EndpointUnusableError
from runbench.matrix import build_matrix
from runbench.runners import session
from runbench.runners.context import context_of_request
from runbench.runners.engine import RunOptions
from runbench.runners.preflight import PreflightReport, preflight
from runbench.storage import open_store
from tests.fakes.hostile_servers import (
    HostileServer,
    closed_port,
    start_hostile_server,
    start_plain_text_responder,
)

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = start_hostile_server(drip_interval_s=0.5)
    yield server
    server.close()


def _client(base_url: str, deployment: str, *, timeout_s: float = 30.0) -> OpenAIChatClient:
    config = DeploymentConfig(
        name=deployment,
        provider="hostile",
        kind="openai",
        base_url=base_url,
        endpoint=None,
        api_key_env="HOSTILE_KEY",
        api_version=None,
        limits=EndpointLimits(max_concurrency=2),
        request_timeout_s=timeout_s,
        connect_timeout_s=2.0,
    )
    return OpenAIChatClient(ModelConfig(deployment, "hostile", (config,)), config, SENTINEL)


def _check(clients: dict[str, OpenAIChatClient], timeout_s: float | None = None) -> PreflightReport:
    async def run() -> PreflightReport:
        try:
            typed: dict[str, ModelClient] = dict(clients)
            return await preflight(typed, timeout_s=timeout_s)
        finally:
            for client in clients.values():
                await client.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("refused", "connection refused"),
        ("unknown-host", "unknown host"),
        ("tls", "TLS failure"),
        ("status-404", "model or deployment not found"),
        ("status-401", "HTTP 401"),
        ("status-403", "HTTP 403"),
        ("status-quota", "HTTP 429"),
    ],
)
def test_each_unusable_endpoint_gets_one_line_and_the_good_one_goes_on(
    hostile: HostileServer, case: str, reason: str
) -> None:
    responder = start_plain_text_responder()
    try:
        bad_url = {
            "refused": f"http://127.0.0.1:{closed_port()}/v1",
            "unknown-host": "http://runbench-no-such-host.invalid/v1",
            "tls": f"https://127.0.0.1:{responder.port}/v1",
        }.get(case, hostile.base_url)
        report = _check(
            {"hostile/bad": _client(bad_url, case), "hostile/good": _client(hostile.base_url, "ok")}
        )
    finally:
        responder.close()
    assert set(report.unusable) == {"hostile/bad"}, "the good endpoint goes on"
    assert report.checked == ("hostile/bad", "hostile/good")
    (line,) = report.lines()
    assert "\n" not in line and line.startswith(f"hostile/{case}: ")
    assert reason in line
    assert SENTINEL not in line and "SENTINEL" not in line
    assert report.exit_code == EXIT_CREDENTIALS == 3
    assert isinstance(report.unusable["hostile/bad"], EndpointUnusableError)


@pytest.mark.parametrize("behaviour", ["status-500", "status-plain400"])
def test_a_failure_that_retries_or_tests_may_settle_does_not_stop_the_endpoint(
    hostile: HostileServer, behaviour: str
) -> None:
    report = _check({"hostile/x": _client(hostile.base_url, behaviour)})
    assert report.unusable == {} and report.exit_code == 0


@pytest.mark.parametrize("behaviour", ["hang", "drip"])
def test_a_hung_or_dripping_endpoint_is_given_up_at_the_request_timeout(
    hostile: HostileServer, behaviour: str
) -> None:
    started = time.monotonic()
    report = _check(
        {
            "hostile/slow": _client(hostile.base_url, behaviour),
            "hostile/ok": _client(hostile.base_url, "ok"),
        },
        timeout_s=1.0,
    )
    assert time.monotonic() - started < 1.0 + 10.0, "a drip lasts minutes; a hang forever"
    assert set(report.unusable) == {"hostile/slow"}
    assert "no reply within 1 s" in report.lines()[0]


def test_the_clients_own_timeout_bounds_pre_flight_when_the_run_sets_none(
    hostile: HostileServer,
) -> None:
    started = time.monotonic()
    report = _check({"hostile/drip": _client(hostile.base_url, "drip", timeout_s=1.0)})
    assert time.monotonic() - started < 1.0 + 10.0
    assert "timed out" in report.lines()[0]


def test_pre_flight_is_cancelled_at_once_by_its_caller(hostile: HostileServer) -> None:
    clients = {f"hostile/{name}": _client(hostile.base_url, name) for name in ("hang", "drip")}

    async def run() -> float:
        task = asyncio.ensure_future(preflight(dict(clients), timeout_s=60.0))
        # cancel only once both requests are in flight at the server (a hang and a drip)
        deadline = time.monotonic() + 30
        while len(hostile.requests) < 2:
            assert time.monotonic() < deadline, "pre-flight never reached the server"
            await asyncio.sleep(0.02)
        assert not task.done()
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - cancelled_at
        for client in clients.values():
            await client.aclose()
        return elapsed

    assert asyncio.run(run()) < 5.0, "no thread or blocking call may hold a cancelled pre-flight"


def test_a_run_skips_the_unusable_endpoint_and_finishes_the_others(
    hostile: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        "[providers.hostile]\n"
        'kind = "openai"\n'
        f'base_url = "{hostile.base_url}"\n'
        'api_key_env = "HOSTILE_KEY"\n'
        "[providers.gone]\n"
        'kind = "openai"\n'
        f'base_url = "http://127.0.0.1:{closed_port()}/v1"\n'
        'api_key_env = "HOSTILE_KEY"\n'
        '[models.good]\nprovider = "hostile"\ndeployments = ["ok"]\n'
        '[models.denied]\nprovider = "hostile"\ndeployments = ["status-401"]\n'
        '[models.unreachable]\nprovider = "gone"\n'
    )
    monkeypatch.setenv("HOSTILE_KEY", SENTINEL)
    matrix = build_matrix(
        prompt_types="optimal", difficulties="easy", task_types="simple_task", num_instances=2
    )
    request = session.RunRequest(
        ("good", "denied", "unreachable", "sim-average"), matrix, config_path=config
    )
    store = open_store(tmp_path / "store", "json")
    options = RunOptions(max_workers=4, max_turns=2, request_timeout_s=5.0)
    context = context_of_request(config, store)
    prepared = session.prepare(request, context)
    summary = asyncio.run(session.execute(prepared, context, options))
    rows = store.scan(["model", "status"]).to_pylist()
    store.close()
    assert sorted({row["model"] for row in rows}) == ["good", "sim-average"]
    assert all(row["status"] != "error" for row in rows)
    assert set(summary.stopped) == {"hostile", "gone"}
    assert "hostile/status-401: HTTP 401" in summary.stopped["hostile"]
    assert "gone/unreachable: " in summary.stopped["gone"]
    assert "connection refused" in summary.stopped["gone"]
    assert summary.exit_code == 3
    assert summary.not_run == 4 and summary.finished == 4
    assert SENTINEL not in repr(summary.stopped)


def test_the_stop_event_ends_pre_flight_at_once(hostile: HostileServer) -> None:
    clients = {"hostile/hang": _client(hostile.base_url, "hang")}

    async def run() -> PreflightReport:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        try:
            return await preflight(dict(clients), timeout_s=60.0, stop=stop)
        finally:
            for client in clients.values():
                await client.aclose()

    started = time.monotonic()
    report = asyncio.run(run())
    assert report.interrupted and report.unusable == {}
    assert time.monotonic() - started < 10.0, "the hung request was cancelled, not awaited"


def test_sigterm_during_pre_flight_exits_130_with_a_resume_line(
    hostile: HostileServer, tmp_path: Path
) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        f'[providers.hostile]\nkind = "openai"\nbase_url = "{hostile.base_url}"\n'
        'api_key_env = "HOSTILE_KEY"\nrequest_timeout_s = 600\n'
        '[models.hung]\nprovider = "hostile"\ndeployments = ["hang"]\n'
    )
    environment = {**os.environ, "HOSTILE_KEY": SENTINEL}
    environment.pop("STORAGE_FORMAT", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runbench",
            "smart-batch",
            "--model",
            "hung",
            "--config",
            str(config),
            "--store",
            str(tmp_path / "store"),
            "--task-types",
            "simple_task",
            "--num-instances",
            "1",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        deadline = time.monotonic() + 60
        while not hostile.requests and time.monotonic() < deadline:  # pre-flight has started
            time.sleep(0.05)
        assert hostile.requests, "pre-flight never reached the server"
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        ended_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Resume with: runbench smart-batch" in err
    assert ended_after < 15.0, "a 600 s request timeout must not hold a SIGTERM"
    assert len(hostile.requests) == 1, "no test ran after the interrupt"


def test_the_run_limit_bounds_pre_flight_against_a_server_that_never_answers(
    hostile: HostileServer, tmp_path: Path
) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        f'[providers.hostile]\nkind = "openai"\nbase_url = "{hostile.base_url}"\n'
        'api_key_env = "HOSTILE_KEY"\nrequest_timeout_s = 600\n'
        '[models.hung]\nprovider = "hostile"\ndeployments = ["hang"]\n'
    )
    environment = {**os.environ, "HOSTILE_KEY": SENTINEL}
    environment.pop("STORAGE_FORMAT", None)
    store = tmp_path / "store"
    command = [
        *(sys.executable, "-m", "runbench", "smart-batch", "--model", "hung"),
        *("--config", str(config), "--store", str(store), "--task-types", "simple_task"),
        *("--num-instances", "1", "--max-runtime", "2", "--json"),
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr  # resumable: the run limit was reached
    summary = json.loads(result.stdout)
    assert summary["timed_out"] and summary["finished"] == summary["errors"] == 0
    assert summary["not_run"] == 1
    assert took < 30, f"the provider's 600 s request timeout was not cut by --max-runtime 2: {took}"
    assert (
        not (store / "json" / "records.jsonl").exists()
        or not (store / "json" / "records.jsonl").read_text()
    )
