"""scripts/run_systematic_test.sh as users run it: real bash, real runbench processes, real signals.

Every run gets a minimal environment (PATH=/usr/bin:/bin, CI=true, no stdin), as in CI, so the
script must find runbench by itself and may never wait for an answer.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runbench.storage import open_store
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "run_systematic_test.sh"
RUNBENCH = Path(sys.executable).with_name("runbench")
BARE_PATH = "/usr/bin:/bin"


def _environment(**extra: str) -> dict[str, str]:
    return {"PATH": BARE_PATH, "CI": "true", **extra}


def _run(
    *args: str, script: Path = SCRIPT, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(**(env or {})),
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def _repository_copy(root: Path, *, with_venv: bool) -> Path:
    """A checkout holding the script and, if asked, the .venv/bin/runbench that setup creates."""
    (root / "scripts").mkdir(parents=True)
    script = root / "scripts" / SCRIPT.name
    shutil.copy(SCRIPT, script)
    if with_venv:
        (root / ".venv" / "bin").mkdir(parents=True)
        (root / ".venv" / "bin" / "runbench").symlink_to(RUNBENCH)
    return script


def _write_config(folder: Path, name: str, *, profile: str, latency_ms: int = 0) -> None:
    (folder / "runbench.toml").write_text(
        f'[models.{name}]\nprovider = "sim"\nprofile = "{profile}"\nlatency_ms = {latency_ms}\n'
    )


def _steps(stdout: str) -> list[str]:
    """The runbench command of each step, as the script announces it (time stamp cut off)."""
    return [
        line.split(": runbench ", 1)[1] for line in stdout.splitlines() if ": runbench " in line
    ]


def test_help_answers_with_usage_and_examples() -> None:
    result = _run("--help", env={"RUNBENCH": str(RUNBENCH)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    assert "Examples:" in result.stdout and "--full-auto" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing chosen (this script has no menu)"),
        (("--auto", "--bogus"), "unknown option '--bogus'; see --help"),
        (("--models",), "--models needs a value"),
        (("--auto", "--instances", "5x4"), "the old NxM form is not supported"),
        (("--auto", "--fresh"), "start a new store with --store NEW_DIR"),
        (("--phase", "6.1"), "unknown phase '6.1'; phases: 5.1 5.2 5.3 5.4 5.5"),
        (("--auto", "--storage", "csv"), "--storage must be json or parquet"),
        (("--auto", "--ultra-parallel"), "pass --models A,B"),
    ],
)
def test_bad_usage_is_one_error_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = _run(*args, env={"RUNBENCH": str(RUNBENCH)})
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr


def _phase_steps(phases: str, models: str, *tail: str, command: str = "smart-batch") -> list[str]:
    return [
        " ".join([command, *(["--model", model] if model else []), "--phase", phase, *tail])
        for phase in phases.split()
        for model in models.split() or [""]
    ]


@pytest.mark.parametrize(
    ("args", "steps", "notes"),
    [
        (
            ("--full-auto", "--models", "a"),
            _phase_steps("5.1 5.2 5.3 5.4 5.5", "a", "--store", "S", "--quiet"),
            [],
        ),
        (
            ("--auto", "--instances", "2", "--workers", "3", "--models", "a,b"),
            _phase_steps(
                "5.1 5.2 5.3 5.4 5.5",
                "a b",
                *("--max-workers", "3", "--num-instances", "2", "--store", "S", "--quiet"),
            ),
            ["--auto: this script never pauses between phases"],
        ),
        (
            ("--phase", "5.3", "--phase", "5.1"),
            _phase_steps("5.3 5.1", "", "--store", "S", "--quiet"),
            [],
        ),
        (
            ("--from-phase", "5.4", "--models", "a", "--ultra-parallel", "--storage", "parquet"),
            _phase_steps(
                "5.4 5.5",
                "a",
                "--store",
                "S",
                "--storage",
                "parquet",
                "--quiet",
                command="ultra-parallel",
            ),
            [],
        ),
        (
            ("--phases", "5.2", "--incremental", "--ignore-progress", "--conservative", "--debug"),
            _phase_steps("5.2", "", "--store", "S", "--quiet"),
            [
                "--incremental: moot; every step runs exactly the tests not done yet",
                "--ignore-progress: moot",
                "--conservative: moot; concurrency adapts per endpoint",
                "--debug: moot; nothing pauses",
            ],
        ),
    ],
)
def test_old_options_map_to_runbench_steps(
    args: tuple[str, ...], steps: list[str], notes: list[str]
) -> None:
    result = _run(*args, "--store", "S", "--dry-run", env={"RUNBENCH": str(RUNBENCH)})
    assert result.returncode == 0, result.stderr
    assert _steps(result.stdout) == steps
    info = [line for line in result.stderr.splitlines() if not line.startswith("[INFO] runbench:")]
    assert len(info) == len(notes), result.stderr
    for line, note in zip(info, notes, strict=True):
        assert line.startswith(f"[INFO] {note}")


@pytest.mark.parametrize(
    ("environment", "expected"), [({}, "json"), ({"STORAGE_FORMAT": "parquet"}, "parquet")]
)
def test_runbench_of_the_repository_venv_and_the_cli_storage_default(
    tmp_path: Path, environment: dict[str, str], expected: str
) -> None:
    script = _repository_copy(tmp_path / "checkout", with_venv=True)
    store = tmp_path / "store"
    result = _run(
        "--phase", "5.1", "--models", "sim-strong", "--instances", "1", "--store", str(store),
        script=script, env=environment,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    venv_runbench = tmp_path / "checkout" / ".venv" / "bin" / "runbench"
    assert (
        f"[INFO] runbench: {venv_runbench} (not on PATH; the repository's .venv)" in result.stderr
    )
    assert [path.name for path in store.iterdir() if path.is_dir()] == [expected]
    assert len(open_store(store, expected).scan(["test_id"])) == 5


def test_without_runbench_anywhere_one_line_says_how_to_install_and_exit_2(tmp_path: Path) -> None:
    if shutil.which("runbench", path=BARE_PATH):
        pytest.skip("a runbench is installed system-wide")
    script = _repository_copy(tmp_path / "checkout", with_venv=False)
    result = _run("--auto", "--store", str(tmp_path / "store"), script=script)
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert f"runbench is neither on PATH nor in {tmp_path / 'checkout'}/.venv/bin" in result.stderr
    assert ".venv/bin/pip install -e ." in result.stderr and "RUNBENCH=" in result.stderr
    assert not (tmp_path / "store").exists()


def test_auto_runs_every_phase_for_the_models_of_runbench_toml(tmp_path: Path) -> None:
    _write_config(tmp_path, "my-sim", profile="strong")
    result = _run(
        "--auto",
        "--instances",
        "1",
        "--store",
        "store",
        cwd=tmp_path,
        env={"RUNBENCH": str(RUNBENCH)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[INFO] --auto: this script never pauses between phases" in result.stderr
    table = open_store(tmp_path / "store", "json").scan(["test_id", "model"])
    # 5 task types × (5.1: 1 cell, 5.2: 2 difficulties, 5.3: 7 flaws, 5.4: 3 rates, 5.5: 2 prompts)
    assert len(set(table.column("test_id").to_pylist())) == 5 * (1 + 2 + 7 + 3 + 2)
    assert set(table.column("model").to_pylist()) == {"my-sim"}
    assert "all phases done" in result.stdout


def test_a_config_error_of_every_step_stops_at_the_first_with_its_message(tmp_path: Path) -> None:
    result = _run("--auto", "--store", "store", cwd=tmp_path, env={"RUNBENCH": str(RUNBENCH)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert _steps(result.stdout) == ["smart-batch --phase 5.1 --store store --quiet"]
    assert "phase 5.1 / models of runbench.toml: FAILED with exit 2: Error: no model to run" in (
        result.stdout
    )


def _processes_naming(marker: str) -> Iterator[int]:
    """Pids of live processes whose command line holds ``marker`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in command_line and b"smart-batch" in command_line:
            yield int(entry.name)


def _wait_for(condition_met: Callable[[], bool], what: str, *, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition_met():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("target", "signum"),
    [
        ("script", signal.SIGINT),
        ("terminal", signal.SIGINT),  # Ctrl-C: the whole foreground process group gets it
        ("script", signal.SIGTERM),
        ("step", signal.SIGTERM),  # the runbench step alone is stopped: the script stops too
    ],
)
def test_first_interrupt_stops_the_whole_script_with_exit_130_and_one_resume_hint(
    tmp_path: Path, target: str, signum: signal.Signals
) -> None:
    _write_config(tmp_path, "slow-sim", profile="average", latency_ms=100)
    store = tmp_path / "store"
    arguments = ["--phases", "5.3,5.5", "--workers", "2", "--store", str(store)]
    script = subprocess.Popen(
        ["bash", str(SCRIPT), *arguments],
        cwd=tmp_path,
        env=_environment(RUNBENCH=str(RUNBENCH)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # As from a terminal: SIGINT at its default, even if this pytest was started ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    records = store / "json" / "records.jsonl"
    _wait_for(lambda: records.exists() and records.stat().st_size > 0, "the first record of 5.3")
    if target == "script":
        script.send_signal(signum)
    elif target == "terminal":
        os.killpg(script.pid, signum)
    else:
        (step,) = _processes_naming(str(store))
        os.kill(step, signum)
    stdout, stderr = script.communicate(timeout=120)

    assert script.returncode == 130, stdout + stderr
    hints = [line for line in stderr.splitlines() if "Resume with:" in line]
    assert hints == [
        f"Interrupted; nothing more will run. Resume with: {SCRIPT} {' '.join(arguments)}"
    ]
    assert "phase 5.3" in stdout and "phase 5.5" not in stdout
    assert not list(_processes_naming(str(store))), "a runbench step outlived the script"
    log = next(store.glob("systematic_test_*.log")).read_text()
    assert "Resume with: runbench smart-batch --phase 5.3" in log, "the step did not stop cleanly"
    assert "phase 5.5" not in log and "runbench report" not in log
    prompt_types = set(open_store(store, "json").scan(["prompt_type"]).column(0).to_pylist())
    assert prompt_types and all(name.startswith("flawed_") for name in prompt_types)
