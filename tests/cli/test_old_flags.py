"""The old PILOT-Bench runners' flags: each accepted with one [INFO] note, mapped ones take effect.

Their scripts pass smart_batch_runner.py's, batch_test_runner.py's and ultra_parallel_runner.py's
flags to the runbench commands that replace those runners; none of the flags shows in --help.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbench import config as config_module
from runbench.cli import run as run_commands
from runbench.cli.legacy_flags import resolve_legacy
from runbench.cli.options import LegacyArgs, PlanArgs, RunArgs
from tests.cli.conftest import Outcome

PLAN = ("--model", "sim-strong", "--task-types", "simple_task", "--num-instances", "2")
DURABLE = "every record is durable when its test ends"
MISSING = "smart-batch always runs exactly the tests not done yet, those that ended in error"

NOTES = [
    ("smart-batch", ("--silent",), "--silent: mapped to --quiet (no progress lines)"),
    (
        "smart-batch",
        ("--no-save-logs",),
        "--no-save-logs: runbench's default: transcripts are kept only with --save-logs or --debug",
    ),
    (
        "smart-batch",
        ("--batch-commit",),
        f"--batch-commit: ignored: {DURABLE}, so there is nothing to batch",
    ),
    (
        "smart-batch",
        ("--checkpoint-interval", "20"),
        f"--checkpoint-interval 20: ignored: {DURABLE}, so there are no checkpoints to take",
    ),
    (
        "smart-batch",
        ("--ai-classification",),
        "--ai-classification: no classifier in runbench.toml: the rule-based classifier stays "
        '(write classifier = "<model>" or pass --classifier MODEL to use a model)',
    ),
    (
        "smart-batch",
        ("--no-ai-classification",),
        "--no-ai-classification: ignored: the rule-based error classifier is runbench's default",
    ),
    (
        "smart-batch",
        ("--result-suffix", "_closed_source"),
        "--result-suffix _closed_source: ignored: one store holds every model (each row names "
        "its model and provider); use --store PATH for a separate store",
    ),
    (
        "smart-batch",
        ("--provider-parallel",),
        "--provider-parallel: ignored: every provider already runs in parallel under its own "
        "limits (runbench provider-parallel also prints a summary per provider)",
    ),
    (
        "smart-batch",
        ("--prompt-parallel",),
        "--prompt-parallel: ignored: every prompt type of the plan already runs in parallel, "
        "from one pool of --max-workers",
    ),
    ("smart-batch", ("--auto-maintain",), f"--auto-maintain: ignored: {MISSING} included"),
    (
        "smart-batch",
        ("--incremental-retest",),
        f"--incremental-retest: ignored: {MISSING} included",
    ),
    (
        "smart-batch",
        ("--completion-threshold", "0.8"),
        "--completion-threshold 0.8: ignored: smart-batch runs every test not done yet, "
        "whatever the completion rate",
    ),
    (
        "smart-batch",
        ("--idealab-key-index", "1"),
        "--idealab-key-index 1: ignored: API keys are deployments in runbench.toml and tests "
        "spread over all of a model's deployments; pin one with --deployment NAME",
    ),
    (
        "batch",
        ("--smart",),
        "--smart: ignored: PILOT-Bench's batch_test_runner.py never read it; batch adds --count "
        "new instances per cell (smart-batch runs exactly the tests not done yet)",
    ),
    ("batch", ("--detailed",), "--detailed: ignored: the progress table always shows every cell"),
    (
        "batch",
        ("--concurrent",),
        "--concurrent: ignored: runbench always runs tests concurrently, --max-workers at a time",
    ),
    ("batch", ("--workers", "3"), "--workers 3: mapped to --max-workers 3"),
    ("batch", ("--silent",), "--silent: mapped to --quiet (no progress lines)"),
    (
        "batch",
        ("--ai-classification",),
        "--ai-classification: no classifier in runbench.toml: the rule-based classifier stays "
        '(write classifier = "<model>" or pass --classifier MODEL to use a model)',
    ),
    (
        "ultra-parallel",
        ("--rate-mode", "fixed"),
        "--rate-mode fixed: mapped to --no-adaptive (concurrency is not cut on 429s)",
    ),
    (
        "ultra-parallel",
        ("--rate-mode", "adaptive"),
        "--rate-mode adaptive: mapped to --adaptive (runbench's default)",
    ),
    (
        "ultra-parallel",
        ("--result-suffix", "_opensource"),
        "--result-suffix _opensource: ignored: one store holds every model (each row names its "
        "model and provider); use --store PATH for a separate store",
    ),
    ("ultra-parallel", ("--silent",), "--silent: mapped to --quiet (no progress lines)"),
]
# tested on their own below: --progress shows status instead of a dry run; --clear is refused
SEPARATE = {"progress", "clear"}


def _old_notes(outcome: Outcome) -> list[str]:
    return [line for line in outcome.stderr.splitlines() if line.startswith("[INFO] --")]


@pytest.mark.parametrize(("command", "flag", "note"), NOTES, ids=lambda x: " ".join(x))
def test_each_old_flag_is_accepted_with_exactly_one_info_note(
    command: str, flag: tuple[str, ...], note: str, tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    result = invoke(command, *PLAN, *flag, "--store", str(tmp_path), "--dry-run")
    assert result.code == 0, result.stderr
    assert _old_notes(result) == [f"[INFO] {note}"]
    assert "to run" in result.stdout, "the command still did its dry run"


def test_the_cases_cover_every_old_flag() -> None:
    covered = {flag[0] for _, flag, _ in NOTES}
    declared = {"--" + item.name.replace("_", "-") for item in dataclasses.fields(LegacyArgs)}
    assert declared - covered == {"--" + name for name in SEPARATE}


def test_every_old_flag_given_at_once_yields_one_note_each(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    flags = [
        "--silent",
        "--no-save-logs",
        "--batch-commit",
        "--checkpoint-interval",
        "5",
        "--ai-classification",
        "--result-suffix",
        "_x",
        "--provider-parallel",
        "--prompt-parallel",
        "--auto-maintain",
        "--incremental-retest",
        "--completion-threshold",
        "0.5",
        "--idealab-key-index",
        "0",
    ]
    result = invoke("smart-batch", *PLAN, *flags, "--store", str(tmp_path), "--dry-run")
    assert result.code == 0, result.stderr
    named = [line.split(":")[0].removeprefix("[INFO] ").split()[0] for line in _old_notes(result)]
    assert named == [flag for flag in flags if flag.startswith("--")]


def _capture_run(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, RunArgs]]:
    """Record what smart-batch and batch hand to ``run_and_report``, instead of running."""
    seen: list[tuple[Any, RunArgs]] = []
    monkeypatch.setattr(
        run_commands,
        "run_and_report",
        lambda request, config, where, run, **_: seen.append((request, run)),
    )
    return seen


def test_workers_sets_the_requests_max_workers(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_run(monkeypatch)
    assert invoke("batch", *PLAN, "--workers", "3", "--store", str(tmp_path)).code == 0
    assert (
        invoke("batch", *PLAN, "--concurrent", "--workers", "7", "--store", str(tmp_path)).code == 0
    )
    assert invoke("batch", *PLAN, "--store", str(tmp_path)).code == 0
    assert [request.options.max_workers for request, _ in seen] == [
        3,
        7,
        run_commands.DEFAULT_WORKERS,
    ]


def test_silent_is_quiet_and_no_save_logs_keeps_no_transcripts(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_run(monkeypatch)
    for command in ("smart-batch", "batch"):
        result = invoke(command, *PLAN, "--silent", "--no-save-logs", "--store", str(tmp_path))
        assert result.code == 0, result.stderr
    assert invoke("smart-batch", *PLAN, "--store", str(tmp_path)).code == 0
    assert [run.quiet for _, run in seen] == [True, True, False]
    assert [request.options.save_logs for request, _ in seen] == [False, False, False]


def test_ultra_parallel_rate_mode_and_silent_reach_the_shards(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, RunArgs]] = []
    monkeypatch.setattr(
        run_commands, "_supervise", lambda ultra, where, run, restarts: seen.append((ultra, run))
    )
    for mode in ("fixed", "adaptive"):
        result = invoke(
            "ultra-parallel", *PLAN, "--rate-mode", mode, "--silent", "--store", str(tmp_path)
        )
        assert result.code == 0, result.stderr
    assert [ultra.request.options.adaptive for ultra, _ in seen] == [False, True]
    assert [run.quiet for _, run in seen] == [True, True]


def test_models_is_another_name_of_model(tmp_path: Path, invoke: Callable[..., Outcome]) -> None:
    rest = ("--task-types", "simple_task", "--num-instances", "2", "--store", str(tmp_path))
    old = invoke("smart-batch", "--models", "sim-strong,sim-weak", *rest, "--dry-run")
    new = invoke("smart-batch", "--model", "sim-strong,sim-weak", *rest, "--dry-run")
    assert old.code == new.code == 0, old.stderr
    assert old.lines == new.lines
    assert old.lines[0] == "2 cells, 4 tests planned, 0 done, 4 to run: about 20 requests, 0 s"


def _stored_run(tmp_path: Path, invoke: Callable[..., Outcome]) -> Path:
    result = invoke("smart-batch", *PLAN, "--store", str(tmp_path), "--quiet")
    assert result.code == 0, result.stderr
    return tmp_path / "json" / "records.jsonl"


def test_clear_is_refused_and_deletes_nothing(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    records = _stored_run(tmp_path, invoke)
    before = records.read_bytes()
    result = invoke("batch", *PLAN, "--clear", "--store", str(tmp_path))
    assert result.code == 2
    assert result.error_lines == [
        "Error: --clear is refused: in PILOT-Bench it emptied the results database of every "
        "model, and runbench never deletes results",
        "Hint: start a fresh store with --store NEW_FOLDER; the current one stays as it is",
    ]
    assert records.read_bytes() == before


def test_progress_shows_the_plans_status_and_runs_nothing(
    tmp_path: Path, invoke: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _stored_run(tmp_path, invoke)
    before = records.read_bytes()
    loads: list[Path | None] = []
    original = config_module.load_config

    def counted(path: Path | None) -> Any:
        loads.append(path)
        return original(path)

    monkeypatch.setattr(config_module, "load_config", counted)
    done = invoke("batch", *PLAN, "--progress", "--detailed", "--store", str(tmp_path))
    assert done.code == 0, done.stderr
    assert len(loads) == 1, "the run's config is the one --progress's status uses"
    assert done.lines[0] == "plan status: 2/2 tests done (100.0 %)"
    assert _old_notes(done) == [
        "[INFO] --progress: showing the plan's progress (as runbench status does); running nothing",
        "[INFO] --detailed: ignored: the progress table always shows every cell",
    ]
    more = ("--model", "sim-strong", "--task-types", "simple_task", "--num-instances", "5")
    left = invoke("batch", *more, "--progress", "--store", str(tmp_path))
    assert left.code == 1, "status exits 1 while the plan is incomplete"
    assert left.lines[0] == "plan status: 2/5 tests done (40.0 %)"
    assert records.read_bytes() == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--workers", "3", "--max-workers", "4"), "give --workers or --max-workers, not both"),
        (("--save-logs", "--no-save-logs"), "give --save-logs or --no-save-logs, not both"),
        (("--rate-mode", "slow"), "--rate-mode must be adaptive or fixed, not 'slow'"),
        (
            ("--rate-mode", "adaptive", "--no-adaptive"),
            "give --rate-mode adaptive or --no-adaptive, not both",
        ),
        (("--rate-mode", "fixed", "--adaptive"), "give --rate-mode fixed or --adaptive, not both"),
    ],
)
def test_an_old_flag_that_contradicts_a_new_one_is_one_error_line(
    flags: tuple[str, ...], message: str, tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    result = invoke("batch", *PLAN, *flags, "--store", str(tmp_path), "--dry-run")
    assert result.code == 2
    assert result.error_lines == [f"Error: {message}"]


def test_the_same_count_in_both_names_is_no_contradiction() -> None:
    resolved = resolve_legacy(LegacyArgs(workers=4), PlanArgs(), RunArgs(max_workers=4))
    assert resolved.run.max_workers == 4
    same = resolve_legacy(LegacyArgs(rate_mode="fixed"), PlanArgs(), RunArgs(adaptive=False))
    assert same.run.adaptive is False, "--rate-mode fixed with --no-adaptive says one thing"


def test_ai_classification_is_kept_for_the_classifier() -> None:
    assert resolve_legacy(
        LegacyArgs(ai_classification=True), PlanArgs(), RunArgs()
    ).ai_classification
    assert not resolve_legacy(LegacyArgs(), PlanArgs(), RunArgs()).ai_classification


@pytest.mark.parametrize("command", ["smart-batch", "batch", "ultra-parallel"])
def test_help_shows_none_of_the_old_flags(command: str, invoke: Callable[..., Outcome]) -> None:
    result = invoke(command, "--help")
    assert result.code == 0
    assert "--quiet" in result.stdout, "the help was printed"
    for item in dataclasses.fields(LegacyArgs):
        flag = "--" + item.name.replace("_", "-")
        assert not re.search(rf"(?<![\w-]){flag}(?![\w-])", result.stdout), flag


# smart_batch_runner.py and ultra_parallel_runner.py as run_systematic_test_final.sh calls them
# (--batch-commit twice is theirs); each old flag still yields one note
SCRIPT_LINES = [
    (
        "smart-batch",
        "--batch-commit --model sim-strong --prompt-types optimal --difficulty easy "
        "--task-types simple_task --num-instances 2 --max-workers 100 --adaptive "
        "--prompt-parallel --batch-commit --checkpoint-interval 10 --ai-classification --silent "
        "--result-suffix _closed_source",
        "--batch-commit --checkpoint-interval --ai-classification --result-suffix "
        "--prompt-parallel --silent",
    ),
    ("smart-batch", "--auto-maintain --batch-commit", "--batch-commit --auto-maintain"),
    (
        "smart-batch",
        "--incremental-retest --completion-threshold 0.8 --batch-commit",
        "--batch-commit --incremental-retest --completion-threshold",
    ),
    (
        "ultra-parallel",
        "--model sim-strong --prompt-types optimal --difficulty easy --task-types simple_task "
        "--num-instances 2 --rate-mode fixed --max-workers 8 --silent --result-suffix _x",
        "--silent --result-suffix --rate-mode",
    ),
]


@pytest.mark.parametrize(("command", "line", "flags"), SCRIPT_LINES, ids=lambda x: str(x)[:40])
def test_the_old_scripts_lines_run_as_written(
    command: str,
    line: str,
    flags: str,
    tmp_path: Path,
    invoke: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "runbench.toml"  # without --model: every model it defines, as theirs did
    config.write_text('[models."sim-mine"]\nprovider = "sim"\nprofile = "strong"\n')
    monkeypatch.setenv("RUNBENCH_CONFIG", str(config))
    result = invoke(command, *line.split(), "--store", str(tmp_path), "--dry-run")
    assert result.code == 0, result.stderr
    named = [note.removeprefix("[INFO] ").split(":")[0].split()[0] for note in _old_notes(result)]
    assert sorted(named) == sorted(flags.split()), "one note per old flag, given once or twice"
