from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbench.storage import open_store
from tests.analysis.conftest import make_record
from tests.conftest import REPO, run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build_store(root: Path) -> Path:
    """A small real store: two sim models run with transcripts, plus two kinds of infra error."""
    result = run_cli(
        "smart-batch",
        "--model",
        "sim-strong,sim-weak",
        "--prompt-types",
        "optimal,baseline",
        "--num-instances",
        "2",
        "--store",
        str(root),
        "--save-logs",
        "--quiet",
    )
    assert result.returncode in (0, 1), result.stderr
    store = open_store(root, "json")
    store.append(
        [
            make_record(
                "sim-weak",
                "error",
                instance=90 + index,
                run_id="run-errors",
                deployment="sim-weak-2",
                error_message="HTTP 503 after 6 attempts",
                minutes=index,
            )
            for index in range(3)
        ]
        + [
            make_record(
                "sim-strong",
                "error",
                instance=95,
                run_id="run-errors",
                error_category="test_timeout",
                error_message="test exceeded 120 s",
            )
        ]
    )
    store.close()
    return root


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only store shared by the viewer tests that only look."""
    return build_store(tmp_path_factory.mktemp("viewer") / "store")


class Viewer:
    """A running viewer process and its URL."""

    def __init__(self, store: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tests" / "viewer" / "serve_store.py"),
                "--store",
                str(store),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            pytest.fail(f"viewer did not start: {self.url!r} {self.process.stderr.read()}")  # type: ignore[union-attr]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def shared_viewer(shared_store: Path) -> Iterator[Viewer]:
    viewer = Viewer(shared_store)
    yield viewer
    viewer.close()


@pytest.fixture
def fresh_store(tmp_path: Path, shared_store: Path) -> Path:
    """A copy of the shared store that a test may write to."""
    target = tmp_path / "store"
    shutil.copytree(shared_store, target)
    return target


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module: Playwright's sync API keeps an event loop running in this
    thread while it is open, which would break later tests that call asyncio.run."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context()  # type: ignore[attr-defined]
    opened = context.new_page()
    yield opened
    context.close()
