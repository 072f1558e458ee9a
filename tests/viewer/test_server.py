"""The viewer's HTTP surface and its network boundary, over a real server process."""

from __future__ import annotations

import ast
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from runbench.errors import UsageError
from runbench.viewer import bind_loopback
from tests.conftest import REPO
from tests.fakes.s3_server import free_port
from tests.viewer.conftest import Viewer


def _get(url: str, host: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["content-type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], error.read().decode()


def test_state_api_applies_filters_and_fingerprints_the_page(shared_viewer: Viewer) -> None:
    status, kind, body = _get(shared_viewer.url + "api/state")
    assert status == 200 and kind.startswith("application/json")
    everything = json.loads(body)
    assert everything["options"]["model"] == ["sim-strong", "sim-weak"]
    _, _, body = _get(shared_viewer.url + "api/state?model=sim-weak&rate=0.80&suite=workflow")
    weak = json.loads(body)
    assert weak["tests"] < everything["tests"] and weak["fingerprint"] != everything["fingerprint"]
    assert "sim-strong" not in weak["fragments"]["results"]
    _, _, again = _get(shared_viewer.url + "api/state?model=sim-weak&rate=0.80&suite=workflow")
    assert json.loads(again)["fingerprint"] == weak["fingerprint"]  # nothing changed


def test_the_plot_is_svg_and_missing_data_is_404(shared_viewer: Viewer) -> None:
    status, kind, body = _get(shared_viewer.url + "plot.svg?by=model,difficulty")
    assert status == 200 and kind.startswith("image/svg+xml") and "<svg" in body
    status, _, body = _get(shared_viewer.url + "plot.svg?model=nobody")
    assert status == 404 and "no judged tests" in body


def test_unknown_tests_and_bad_filters_are_client_errors(shared_viewer: Viewer) -> None:
    status, _, body = _get(shared_viewer.url + "test/ffffffffffff")
    assert status == 404 and "no test" in body
    status, _, body = _get(shared_viewer.url + "api/test/ffffffffffff")
    assert status == 404 and "no test" in json.loads(body)["error"]
    status, _, body = _get(shared_viewer.url + "api/state?rate=high")
    assert status == 400 and "not a number" in body


def test_a_test_is_served_as_json_with_its_transcript(shared_viewer: Viewer) -> None:
    _, _, body = _get(shared_viewer.url + "api/state?model=sim-strong")
    fragment = json.loads(body)["fragments"]["tests"]
    test_id = fragment.split('href="/test/')[1].split('"')[0]
    status, _, body = _get(shared_viewer.url + f"api/test/{test_id}")
    view = json.loads(body)
    assert status == 200 and view["test_id"] == test_id and view["model"] == "sim-strong"
    assert view["transcript"] and view["attempts"][0]["counts"] is True


def test_requests_naming_another_host_are_refused(shared_viewer: Viewer) -> None:
    status, _, _ = _get(shared_viewer.url, host="attacker.example")
    assert status == 400  # a DNS-rebinding page cannot read results through the browser


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_the_viewer_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(UsageError, match="loopback"):
        bind_loopback(host, 0)


def test_a_busy_port_is_a_usage_error_with_a_hint() -> None:
    taken = bind_loopback("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(UsageError) as raised:
            bind_loopback("127.0.0.1", port)
        assert "--port 0" in (raised.value.hint or "")
    finally:
        taken.close()
    fresh = bind_loopback("localhost", 0)
    assert fresh.family == socket.AF_INET and fresh.getsockname()[0] == "127.0.0.1"
    fresh.close()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_viewer_sits_above_analysis_and_nothing_imports_it() -> None:
    allowed = ("runbench.analysis", "runbench.storage", "runbench.viewer", "runbench.errors")
    for path in (REPO / "viewer").glob("*.py"):
        for name in _imports(path):
            if name.startswith("runbench"):
                assert name.startswith(allowed), f"{path.name} imports {name}"
    for folder in ("runbench", "analysis", "storage", "runners", "clients", "workload", "migrate"):
        for path in (REPO / folder).glob("*.py"):
            if path.name == "cli.py":  # the CLI serves the viewer (runbench view)
                continue
            assert not any(
                name.startswith(("runbench.viewer", "starlette", "uvicorn"))
                for name in _imports(path)
            ), f"{folder}/{path.name} imports the web stack"


def test_the_viewer_process_allocates_arrow_memory_from_jemalloc_when_built_with_it() -> None:
    import pyarrow as pa

    from runbench.viewer.server import keep_freed_memory

    before = pa.default_memory_pool()
    try:
        keep_freed_memory()
        try:
            pa.jemalloc_memory_pool()
        except NotImplementedError:
            assert pa.default_memory_pool().backend_name == before.backend_name
        else:
            assert pa.default_memory_pool().backend_name == "jemalloc"
    finally:
        pa.set_memory_pool(before)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_runbench_view_stopped_by_a_signal_says_one_line_and_exits_130(
    shared_store: Path, stop: signal.Signals
) -> None:
    """uvicorn hands the signal back inside the server's task group: the command must still
    end as every other does on Ctrl-C, not with the group's traceback and exit 1."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "runbench", "view", "--store", str(shared_store)),
            *("--port", str(free_port())),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if "viewer at http://127.0.0.1:" in line:
            break
    else:
        pytest.fail(f"the viewer did not start: {''.join(seen)}")
    process.send_signal(stop)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130, rest
    assert "Traceback" not in rest
    assert [line for line in rest.splitlines() if line.startswith("Error:")] == [
        f"Error: interrupted by {stop.name}"
    ]
