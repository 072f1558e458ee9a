"""Plans of any allowed size start at once (issue 19, req. 5): lazy jobs, the run limit, dry runs.

The first test of a ten-million-test plan must not wait for ten million job objects: jobs are
generated per endpoint as the run pulls them, so memory follows the queues and ``--max-runtime``
(counted from the command's start, planning included) leaves time to run tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbench.matrix import build_matrix
from runbench.runners import session
from runbench.runners.context import RunContext, context_of_request
from runbench.storage import open_store

GIB = 1024**3
HUGE = ("--model", "sim-strong", "--prompt-types", "all", "--num-instances", "700000")


def _env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("STORAGE_FORMAT", "RUNBENCH_STORE")
    }


def test_a_ten_million_test_plan_runs_tests_within_its_run_limit_in_bounded_memory(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    command = [sys.executable, "-m", "runbench", "smart-batch", *HUGE, "--store", str(store)]
    command += ["--max-runtime", "4", "--json", "--quiet"]
    with open(tmp_path / "stderr", "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=_env()
        )
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 1, (tmp_path / "stderr").read_text()  # run limit: resumable
    summary = json.loads(out)
    assert summary["planned"] == 15 * 700_000 == 10_500_000
    assert summary["timed_out"] and summary["finished"] > 0, "tests ran before the run limit"
    assert summary["finished"] + summary["errors"] + summary["not_run"] == summary["to_run"]
    rows = open_store(store, "json").scan(["test_id"]).num_rows
    assert rows == summary["finished"] > 0
    peak = usage.ru_maxrss * 1024  # Linux reports kilobytes
    assert peak < 1 * GIB, f"peak memory {peak / GIB:.2f} GiB for a ten-million-test plan"


def test_max_runtime_counts_from_the_start_planning_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = session.prepare

    def slow_planning(request: session.RunRequest, context: RunContext) -> session.Prepared:
        time.sleep(1.2)  # planning that takes longer than the whole run limit
        return planned(request, context)

    monkeypatch.setattr(session, "prepare", slow_planning)
    matrix = build_matrix(prompt_types="baseline", difficulties="easy", num_instances=20)
    options = session.RunOptions(max_runtime_s=1.0)
    request = session.RunRequest(("sim-strong",), matrix, options=options)
    store = open_store(tmp_path, "json")
    outcome = session.run_request(request, context_of_request(None, store), preflight_check=False)
    store.close()
    assert outcome.summary is not None and outcome.summary.timed_out
    assert outcome.summary.finished == 0, "the run limit was spent planning: no test started"
    assert open_store(tmp_path, "json").scan(["test_id"]).num_rows == 0


@pytest.mark.parametrize("command", ["smart-batch", "ultra-parallel"])
def test_a_dry_run_at_a_new_store_path_creates_nothing(tmp_path: Path, command: str) -> None:
    store = tmp_path / "not-yet"
    result = subprocess.run(
        [sys.executable, "-m", "runbench", command, *HUGE, "--store", str(store), "--dry-run"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "10500000 tests planned" in result.stdout or "10,500,000" in result.stdout
    assert not store.exists(), "a dry run changes nothing, not even an empty store"
