"""SIGINT and SIGTERM end any phase of a command with exit 130 and one line that says so."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

# a plan big enough that planning it takes a while: the signal lands before any test runs
BIG_PLAN = (
    "--model", "sim-weak", "--prompt-types", "all_with_flawed", "--difficulty", "all",
    "--task-types", "all", "--num-instances", "5000",
)  # fmt: skip


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_planning_ends_the_command_with_one_line(
    tmp_path: Path, signum: signal.Signals
) -> None:
    command = [sys.executable, "-m", "runbench", "smart-batch", *BIG_PLAN]
    process = subprocess.Popen(
        [*command, "--store", str(tmp_path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()  # the store is open: planning has begun
    assert first.startswith("[INFO] storage: json"), first
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if not line.startswith("[INFO]")]
    if lines[0].startswith("Error: "):  # still planning: ended at once
        assert lines == [
            f"Error: interrupted by {signum.name}",
            "Hint: nothing half-written: run the same command again to go on",
        ]
        assert '"exit_code": 130' in out
    else:  # planning was done already: the run stopped cleanly and says how to resume
        assert any(line.startswith("Resume with: runbench smart-batch") for line in lines)
    assert "Traceback" not in err
