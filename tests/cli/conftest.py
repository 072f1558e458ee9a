"""In-process CLI runs: ``runbench.cli.main`` with captured output, as fast as a function call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import STORE_VARIABLES, main_in_process


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
    for name in STORE_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Outcome:
        return Outcome(*main_in_process(capsys, *args))

    return run
