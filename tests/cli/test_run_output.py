"""What runs and ``show`` print: whole transcripts, quiet runs, one warning, resume lines."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from runbench.storage import open_store
from tests.analysis.conftest import make_record
from tests.cli.conftest import Outcome
from tests.conftest import REPO, run_cli

ONE_CELL = (
    *("--model", "sim-strong", "--prompt-types", "optimal", "--difficulty", "easy"),
    *("--task-types", "simple_task", "--tool-success-rate", "0.8"),
)


def test_show_wraps_a_long_transcript_line_instead_of_cropping_it(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    long_line = "".join(f"{number:04d}" for number in range(400))  # 1,600 characters, no space
    record = make_record("m", "full_success", transcript="transcripts/t.json")
    (tmp_path / "transcripts").mkdir()
    message = {"role": "assistant", "content": f"start\n{long_line}\nend"}
    (tmp_path / "transcripts" / "t.json").write_text(json.dumps([message]))
    open_store(tmp_path, "json").append([record])
    shown = invoke("show", record.test_id, "--store", str(tmp_path))
    assert shown.code == 0, shown.stderr
    inside = [line.strip().strip("│").strip() for line in shown.lines]
    body = "".join(inside[inside.index("start") + 1 : inside.index("end")])
    assert body == long_line
    assert "…" not in shown.stdout


def test_quiet_prints_no_summary_table(tmp_path: Path, invoke: Callable[..., Outcome]) -> None:
    quiet = invoke(
        "smart-batch", *ONE_CELL, "--num-instances", "2", "--store", str(tmp_path), "--quiet"
    )
    assert quiet.code == 0, quiet.stderr
    assert quiet.stdout == ""
    assert quiet.error_lines == []
    loud = invoke("smart-batch", *ONE_CELL, "--num-instances", "3", "--store", str(tmp_path))
    assert "run " in loud.stdout and "full" in loud.stdout  # the table, when not quiet


def test_a_damaged_line_warns_once_per_command(tmp_path: Path) -> None:
    store = ("--store", str(tmp_path))
    open_store(tmp_path, "json").append([make_record("sim-strong", "full_success")])
    with (tmp_path / "json" / "records.jsonl").open("ab") as records:
        records.write(b"{not json\n")
    ran = run_cli("smart-batch", *ONE_CELL, "--num-instances", "3", *store)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.count("damaged piece") == 1, ran.stderr


def _resume_argv(stderr: str) -> list[str]:
    (resume,) = [line for line in stderr.splitlines() if line.startswith("Resume with: ")]
    argv = shlex.split(resume.removeprefix("Resume with: runbench "))
    at = argv.index("--max-runtime")  # so that the resumed run goes to the end
    return argv[:at] + argv[at + 2 :]


def test_the_resume_line_uses_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    stopped = run_cli(
        *("smart-batch", *ONE_CELL, "--num-instances", "300", "--max-runtime", "0.05"),
        *("--store", "results", "--quiet"),
        cwd=tmp_path / "here",
    )
    assert stopped.returncode == 1, stopped.stderr
    argv = _resume_argv(stopped.stderr)
    assert argv[argv.index("--store") + 1] == str(tmp_path / "here" / "results")
    again = run_cli(*argv, "--dry-run", cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert f"storage: json ({tmp_path / 'here' / 'results' / 'json'})" in again.stderr


def test_a_stopped_batch_resumes_with_exactly_its_missing_instances(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    config = tmp_path / "runbench.toml"  # a sim that answers after 20 ms: 40 tests outlast 0.05 s
    config.write_text(
        '[models.sim-strong]\nprovider = "sim"\nprofile = "strong"\nlatency_ms = 20\n'
    )
    store = ("--store", str(tmp_path), "--config", str(config))
    assert invoke("batch", *ONE_CELL, "--count", "3", *store).code == 0  # instances 0..2
    stopped = invoke("batch", *ONE_CELL, "--count", "40", "--max-runtime", "0.05", *store)
    assert stopped.code == 1, stopped.stderr
    argv = _resume_argv(stopped.stderr)
    assert argv[0] == "smart-batch" and "--count" not in argv
    assert argv[argv.index("--num-instances") + 1] == "43"  # the batch planned 3..42
    resumed = invoke(*argv)
    assert resumed.code == 0, resumed.stderr
    rows = open_store(tmp_path, "json").scan(["instance", "status"]).to_pylist()
    done = sorted(row["instance"] for row in rows if row["status"] != "error")
    assert done == list(range(43))  # every planned instance once, nothing beyond
    assert "nothing to run" in invoke(*argv).stdout
