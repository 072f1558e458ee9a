"""A whole run against servers that echo request headers: the key is on no disk and no screen.

The CLI runs as a subprocess with ``--save-logs --debug`` against a loopback server that puts
every request header (plain and base64) into its 200, 400, 401 and 500 replies. The sentinel key
and its base64 forms must appear in no store file, no transcript, and neither stdout nor stderr.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.redact import encoded_forms
from tests.conftest import run_cli
from tests.fakes.hostile_servers import HostileServer, start_hostile_server

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = start_hostile_server()
    yield server
    server.close()


def _forms() -> list[bytes]:
    plain = [SENTINEL, *encoded_forms(SENTINEL), base64.b64encode(SENTINEL.encode()).decode()]
    return [form.encode() for form in plain] + [b"SENTINEL"]


def test_echoed_headers_leave_no_key_in_records_transcripts_or_output(
    hostile: HostileServer, tmp_path: Path
) -> None:
    statuses = (200, 400, 401, 500)
    lines = [
        "[providers.echo]",
        'kind = "openai"',
        f'base_url = "{hostile.base_url}"',
        'api_key_env = "ECHO_KEY"',
        "max_concurrency = 2",
        "",
    ]
    for status in statuses:
        lines += [
            f'[models."echo{status}"]',
            'provider = "echo"',
            f'deployments = ["echo-{status}"]',
        ]
    config = tmp_path / "runbench.toml"
    config.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    result = run_cli(
        "smart-batch",
        "--model",
        ",".join(f"echo{status}" for status in statuses),
        "--config",
        str(config),
        "--store",
        str(store),
        "--task-types",
        "simple_task",
        "--prompt-types",
        "optimal",
        "--difficulty",
        "easy",
        "--num-instances",
        "1",
        "--max-retries",
        "1",
        "--save-logs",
        "--debug",
        env={"ECHO_KEY": SENTINEL},
    )
    assert result.returncode == 3, result.stderr  # the 401 endpoint is stopped by pre-flight
    assert "echo/echo-401" in result.stderr
    sent = [
        r for r in hostile.requests if r["headers"].get("Authorization") == f"Bearer {SENTINEL}"
    ]
    assert {r["model"] for r in sent} == {f"echo-{status}" for status in statuses}
    files = [path for path in store.rglob("*") if path.is_file()]
    transcripts = [path for path in files if "transcripts" in path.parts]
    assert transcripts, "the 200 test's transcript was saved"
    assert any(b"you sent" in path.read_bytes() for path in transcripts), "the echo was kept"
    written = {str(path): path.read_bytes() for path in files}
    written["stdout"] = result.stdout.encode()
    written["stderr"] = result.stderr.encode()
    assert any(b"HTTP 400" in data or b"HTTP 500" in data for data in written.values()), (
        "the error rows were stored with their message"
    )
    for where, data in written.items():
        for form in _forms():
            assert form not in data, f"{form!r} leaked into {where}"
