"""--help reads well at 80 columns: whole option names, panels, no <bool> labels."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main

from runbench.cli import app

COMMANDS = [
    name
    for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
    if not command.hidden
]


def _help(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "runbench", *args, "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "TERM": "dumb"},
        check=True,
    ).stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_at_80_columns_cuts_no_option_name_and_shows_no_bool_label(command: str) -> None:
    text = _help(*([command] if command else []))
    assert "<bool>" not in text
    for line in text.splitlines():
        assert len(line) <= 80, line
        names = re.findall(r"--[a-z][a-z0-9-]*…", line)
        assert not names, f"cut option name in: {line}"
        assert "…" not in line.split("│")[1] if "│" in line else True


def test_run_options_sit_in_panels() -> None:
    text = _help("smart-batch")
    for panel in ("Plan", "Limits", "Output", "Storage"):
        assert f"╭─ {panel} " in text
    assert "[default: easy]" in text, "a [default: …] in help text must survive rich markup"
