"""In-process CLI runs: ``runbench.cli.main`` with captured output, as fast as a function call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def error_lines(self) -> list[str]:
        """stderr without the [INFO] lines."""
        return [line for line in self.stderr.splitlines() if not line.startswith("[INFO]")]


@pytest.fixture
def invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Outcome]:
    """Run ``runbench ARGS`` in this process; the environment's store settings are cleared."""
    from runbench.cli import main

    for name in ("STORAGE_FORMAT", "RUNBENCH_STORE", "RUNBENCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
