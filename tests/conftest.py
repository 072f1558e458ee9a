from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbench.records import Record
from runbench.storage.base import RowsSince
from runbench.storage.services import StoreServices
from runbench.synthetic import synthetic_records

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
LEGACY_FIXTURE = FIXTURES / "legacy_v3_master_database.json"
FORMATS = ("json", "parquet")


@pytest.fixture(params=FORMATS)
def storage_format(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only): a real disk that fills up. Skipped where mount is refused."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.fixture
def records() -> list[Record]:
    return list(synthetic_records(300, seed=1))


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, in a subprocess."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("STORAGE_FORMAT", "RUNBENCH_STORE")
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "runbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def fake_openai():  # type: ignore[no-untyped-def]
    """A loopback OpenAI-compatible server on a random free port, for the whole session."""
    from tests.fakes.openai_server import start_fake_openai

    server = start_fake_openai()
    yield server
    server.close()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts passes over a store's rows: ``scan``, ``done_ids`` and every reader call
    ``scan_batches`` once per pass, so a spy there counts reads through any helper."""

    from runbench.storage.json_store import JsonStore
    from runbench.storage.parquet_store import ParquetStore

    count = [0]
    for cls in (JsonStore, ParquetStore):
        original = cls.scan_batches

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Iterator[Any]:
            count[0] += 1
            return _original(self, *args, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(cls, "scan_batches", spy)
    return count


InProcessCli = Callable[..., subprocess.CompletedProcess[str]]
# what a user's shell may set that would point an in-process command at another store or config
STORE_VARIABLES = ("STORAGE_FORMAT", "RUNBENCH_STORE", "RUNBENCH_CONFIG")


def main_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``runbench ARGS`` through ``runbench.cli.main`` in this process: (exit code, out, err)."""
    from runbench.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> InProcessCli:
    """``run_cli`` without a new interpreter: ``runbench.cli.main`` in this process.

    The same command line and the same result shape, a second or two faster per call; for the
    result commands, where start-up is not what a test is about.
    """
    for name in STORE_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), *main_in_process(capsys, *args))

    return run


@pytest.fixture
def since_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, int]]:
    """Each ``rows_since`` call of a store: (from the beginning?, rows it delivered).

    Patched on ``StoreServices``, which every store's ``rows_since`` goes through (local and
    ``s3://``), so a test sees what the viewer asked of the store and how much it got.
    """
    calls: list[tuple[bool, int]] = []
    original = StoreServices.rows_since

    def spy(self: object, position: object | None, columns: object = None) -> RowsSince:
        since = original(self, position, columns)  # type: ignore[arg-type]
        index = len(calls)
        calls.append((position is None, 0))

        def counted() -> Iterator[Any]:
            for table in since:
                calls[index] = (calls[index][0], calls[index][1] + table.num_rows)
                yield table
            return since.position

        return RowsSince(counted())

    monkeypatch.setattr(StoreServices, "rows_since", spy)
    return calls
