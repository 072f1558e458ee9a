"""``--max-runtime`` counts from the command's start: reading the configuration, the workload and
the store is part of the run's time, as much as planning (issue 19 req. 5)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbench.cli import run as cli_run
from runbench.storage import open_store
from tests.cli.conftest import Outcome

PLAN = ("--model", "sim-strong", "--difficulty", "easy", "--prompt-types", "baseline")
PLAN += ("--num-instances", "20")


def test_the_run_limit_is_spent_by_what_the_command_did_before_planning(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = cli_run._context

    def slow_context(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.2)  # a store and a task library that take longer than the run limit
        return opened(*args, **kwargs)

    monkeypatch.setattr(cli_run, "_context", slow_context)
    where = ("--store", str(tmp_path), "--storage", "json")
    outcome = invoke("smart-batch", *PLAN, *where, "--max-runtime", "1", "--json")
    assert outcome.code == 1, outcome.stderr  # timed out: resumable
    summary = json.loads(outcome.stdout)
    assert summary["finished"] == 0, "the limit was spent before planning: no test started"
    store = open_store(tmp_path, "json", create=False)
    try:
        assert store.scan(["test_id"]).num_rows == 0
    finally:
        store.close()
