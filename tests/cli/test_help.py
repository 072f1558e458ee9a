"""--help reads well at 80 columns: whole option names, panels, no <bool> labels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def test_tables_in_a_pipe_keep_every_name_whole(tmp_path) -> None:  # type: ignore[no-untyped-def]
    example = str(Path(__file__).resolve().parents[2] / "runbench.example.toml")
    models = subprocess.run(
        [sys.executable, "-m", "runbench", "models", "--config", example],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    for name in ("DeepSeek-V3-0324-3", "qwen2.5-72b-instruct", "AZURE_OPENAI_API_KEY"):
        assert name in models, name
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "runbench",
            "smart-batch",
            "--model",
            "sim-average",
            "--task-types",
            "api_integration,multi_stage_pipeline",
            "--num-instances",
            "1",
            "--store",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "sim-average" in run and "multi_stage_pipeline" in run and "…" not in run
