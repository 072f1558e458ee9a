"""A run that fails mid-way ends at one boundary: one line, its exit code, rows kept, run ended.

Through the real command line (``runbench smart-batch``, in process): the store refuses an
append part-way through the run, as a full disk or a failing device makes it, and a bad value in
runbench.toml is refused at load. No exception group, no traceback; what was stored stays
readable; ``runbench runs`` shows the run ended with its outcome, never running forever.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runbench.storage import open_store
from tests.cli.conftest import Outcome

# one slow sim model, one worker: each test is appended on its own, so the failing append
# comes after some that succeeded
CONFIG = '[models.slow-sim]\nprovider = "sim"\nprofile = "oracle"\nlatency_ms = 5\n'
PLAN = ("--model", "slow-sim", "--task-types", "simple_task", "--num-instances", "6")
RUN = ("--max-workers", "1", "--storage", "json")
FAIL_FROM_APPEND = 3


def _config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "runbench.toml"
    path.write_text(text)
    return path


def _fail_appends_from(monkeypatch: pytest.MonkeyPatch, first_failing: int, code: int) -> list[int]:
    """Make the JSON store's record appends fail with ``code`` from the n-th on.

    Returns the number of rows each append that succeeded wrote (one a line).
    """
    import runbench.storage.json_store as json_store

    real = json_store.write_all
    calls: list[int] = []

    def write(fd: int, data: bytes) -> None:
        if len(calls) + 1 >= first_failing:
            os.write(fd, data[: len(data) // 2])  # a torn half, as a real full disk leaves
            raise OSError(code, os.strerror(code))
        real(fd, data)
        calls.append(data.count(b"\n"))

    monkeypatch.setattr(json_store, "write_all", write)
    return calls


def _runs(invoke: Callable[..., Outcome], store: Path) -> list[dict[str, object]]:
    listed = invoke("runs", "--store", str(store), "--storage", "json", "--json")
    assert listed.code == 0, listed.stderr
    runs: list[dict[str, object]] = json.loads(listed.stdout)
    return runs


def _only_error_line(result: Outcome) -> str:
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr
    errors = [line for line in result.error_lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.ENOSPC, "the disk is full"), (errno.EIO, "input/output error")],
)
def test_a_store_that_fails_mid_run_is_one_line_and_keeps_what_was_stored(
    tmp_path: Path,
    invoke: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    reason: str,
) -> None:
    config, store = _config(tmp_path), tmp_path / "store"
    calls = _fail_appends_from(monkeypatch, FAIL_FROM_APPEND, code)
    result = invoke(
        "smart-batch", *PLAN, *RUN, "--config", str(config), "--store", str(store), "--json"
    )
    monkeypatch.undo()
    assert len(calls) == FAIL_FROM_APPEND - 1, "the run reached the failing append"
    assert result.code == 2
    line = _only_error_line(result)
    assert line.startswith("Error: cannot append to ") and line.endswith(reason), line
    summary = json.loads(result.stdout)  # --json: still the run's summary, with its error
    assert summary["outcome"] == "failed" and summary["exit_code"] == 2
    assert summary["error"] == line.removeprefix("Error: ")
    assert summary["stored"] == sum(calls) > 0
    assert "Resume with: runbench smart-batch" in result.stderr

    reader = open_store(store, "json")
    assert not reader.verify().damage, "the torn half of the failed append was taken back"
    rows = reader.scan(["run_id", "status"]).to_pylist()
    assert len(rows) == sum(calls)
    assert {row["run_id"] for row in rows} == {summary["run_id"]}
    (run,) = _runs(invoke, store)
    assert run["run_id"] == summary["run_id"]
    assert run["finished"] is True and run["ended_at"] is not None
    assert (run["outcome"], run["exit_code"]) == ("failed", 2)
    assert run["error"] == summary["error"]

    again = invoke("smart-batch", *PLAN, *RUN, "--config", str(config), "--store", str(store))
    assert again.code == 0, again.stderr
    assert len(open_store(store, "json").scan(["test_id"])) == 6, "the resume ran only the rest"


def test_a_failed_run_without_json_prints_its_table_then_the_one_error_line(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = _config(tmp_path), tmp_path / "store"
    calls = _fail_appends_from(monkeypatch, FAIL_FROM_APPEND, errno.ENOSPC)
    result = invoke("smart-batch", *PLAN, *RUN, "--config", str(config), "--store", str(store))
    assert result.code == 2
    assert _only_error_line(result).endswith("the disk is full")
    assert "Hint: free space on that disk" in result.stderr
    assert f"[INFO] {sum(calls)} results of this run are stored" in result.stderr
    assert "slow-sim" in result.stdout, "the run's table is still printed"


@pytest.mark.parametrize(
    ("line", "key", "wording"),
    [
        ('temperature = "hot"', "temperature", 'must be a number from 0 to 2 (got "hot")'),
        ('max_tokens = "many"', "max_tokens", 'must be a positive integer (got "many")'),
        ("max_tokens = 0", "max_tokens", "must be a positive integer (got 0)"),
        ("top_p = 1.5", "top_p", "must be a number from 0 to 1 (got 1.5)"),
        (
            "price_prompt_per_mtok = -1",
            "price_prompt_per_mtok",
            "must be a number of USD, 0 or more (got -1)",
        ),
        ('seed = "x"', "seed", 'must be a whole number (got "x")'),
    ],
)
def test_a_bad_config_value_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, invoke: Callable[..., Outcome], line: str, key: str, wording: str
) -> None:
    config = _config(tmp_path, CONFIG + line + "\n")
    store = tmp_path / "store"
    result = invoke(
        "smart-batch", *PLAN, *RUN, "--config", str(config), "--store", str(store), "--json"
    )
    assert result.code == 2
    assert _only_error_line(result) == f"Error: {config}: models.slow-sim.{key} {wording}"
    assert json.loads(result.stdout)["exit_code"] == 2
    assert not store.exists(), "nothing opened, nothing written"


def test_a_real_disk_filling_up_mid_run_ends_the_run_in_one_line(
    tmpfs: Path, tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    """A run whose records outgrow a small tmpfs: the first refused append ends it cleanly."""
    config = _config(tmp_path, '[models.big]\nprovider = "sim"\nprofile = "average"\n')
    store = tmpfs / "store"
    plan = ("--model", "big", "--prompt-types", "all", "--num-instances", "200")
    result = invoke(*("smart-batch", *plan, "--storage", "json", "--json", "--save-logs"),
                    "--config", str(config), "--store", str(store))  # fmt: skip
    assert result.code == 2, result.stderr[-2000:]
    assert _only_error_line(result).endswith("the disk is full")
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "failed" and summary["stored"] > 0
    rows = open_store(store, "json").scan(["run_id"])
    assert len(rows) == summary["stored"], "every row the run says it kept is readable"
    (run,) = _runs(invoke, store)
    assert (run["outcome"], run["exit_code"]) == ("failed", 2) and run["ended_at"] is not None


@pytest.mark.parametrize("key", ["sk-SENTINEL-123456\nX-Evil: 1", ""])
def test_a_key_that_cannot_be_sent_is_one_line_before_anything_is_created(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    config = _config(
        tmp_path,
        '[providers.lab]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "LAB_KEY"\n\n[models.echo]\nprovider = "lab"\ndeployments = ["echo"]\n',
    )
    monkeypatch.setenv("LAB_KEY", key)
    store = tmp_path / "store"
    result = invoke(
        "smart-batch", "--config", str(config), "--model", "echo", "--store", str(store)
    )
    assert result.code == 2
    errors = result.error_lines
    assert errors[0].startswith("Error: environment variable LAB_KEY") and len(errors) == 2
    assert errors[1].startswith("Hint:")
    assert "SENTINEL" not in result.stderr + result.stdout
    assert not store.exists(), "nothing is created for a run that cannot start"
