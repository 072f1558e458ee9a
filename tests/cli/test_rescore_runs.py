"""``runbench rescore`` on runbench's own runs: saved replies replayed under the suite's rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Outcome

PLAN = ("--model", "sim-strong,sim-weak", "--prompt-types", "optimal,flawed_missing_step")


def test_saved_runs_rescore_to_what_was_stored(
    invoke: Callable[..., Outcome], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    ran = invoke("smart-batch", *PLAN, "--num-instances", "2", "--save-logs", "--quiet",
                 "--store", store)  # fmt: skip
    assert ran.code == 0, ran.stderr
    result = invoke("rescore", "--suite", "workflow", "--store", store, "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tests"] > 0 and summary["not_judged"] == {}
    for name, counts in summary["fields"].items():
        assert counts["equal"] == counts["total"] == summary["tests"], name
        assert counts["max_abs_diff"] == 0.0, name


def test_runs_without_transcripts_are_counted_and_empty_suites_refused(
    invoke: Callable[..., Outcome], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    assert (
        invoke("smart-batch", *PLAN, "--num-instances", "1", "--quiet", "--store", store).code == 0
    )
    result = invoke("rescore", "--suite", "workflow", "--store", store)
    assert result.code == 0
    assert "rescored 0 test(s)" in result.stdout
    assert any(line.startswith("not judged: ") and "no transcript saved" in line
               for line in result.lines)  # fmt: skip
    empty = invoke("rescore", "--suite", "legacy-logs", "--store", store)
    assert empty.code == 2
    assert empty.error_lines[0] == "Error: the store holds no judged test of suite 'legacy-logs'"
    every = invoke("rescore", "--suite", "all", "--store", store)
    assert every.code == 0 and "no transcript saved" in every.stdout
