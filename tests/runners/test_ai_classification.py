"""Error classification by a model (WorkflowBench's --ai-classification), through the engine.

The tested model is a sim (its tests fail often and deterministically); the classifier is a
model of the config served by the loopback fake, which answers ``classify-<category>`` with a
JSON verdict, ``http-500`` always with a 500 and ``http-401`` by echoing the key it got.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runbench.config import load_config
from runbench.errors import ConfigError, UsageError
from runbench.matrix import Matrix, build_matrix
from runbench.records import MODEL_ERROR_CATEGORIES
from runbench.runners import session
from runbench.runners.context import context_of_request
from runbench.runners.engine import RunOptions, RunSummary
from runbench.runners.retry import RetryPolicy
from runbench.storage import open_store
from tests.conftest import STORE_VARIABLES, main_in_process
from tests.fakes.openai_server import FakeOpenAI, start_fake_openai

SENTINEL = "sk-SENTINEL0123456789abcdefSENTINEL"
VERDICT = "parameter_config_errors"
TESTED = "sim-weak"
NOT_FULL = ("partial_success", "failure")
WORKERS = 4


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = start_fake_openai()
    yield server
    server.close()


def _config(tmp_path: Path, fake: FakeOpenAI, *, classifier: str | None = "judge") -> Path:
    path = tmp_path / "runbench.toml"
    text = (
        "[providers.fake]\n"
        'kind = "openai"\n'
        f'base_url = "{fake.base_url}"\n'
        'api_key_env = "FAKE_CLASSIFIER_KEY"\n'
        f'[models.judge]\nprovider = "fake"\ndeployments = ["classify-{VERDICT}"]\n'
        '[models.broken-judge]\nprovider = "fake"\ndeployments = ["http-500"]\n'
        '[models.denied-judge]\nprovider = "fake"\ndeployments = ["http-401"]\n'
    )
    if classifier is not None:
        text = f'classifier = "{classifier}"\n' + text
    path.write_text(text)
    return path


def _matrix() -> Matrix:
    return build_matrix(
        prompt_types="baseline,optimal",
        difficulties="easy",
        task_types="simple_task,multi_stage_pipeline",
        rates="0.6",
        num_instances=4,
    )


@dataclass(frozen=True)
class _Run:
    rows: list[dict[str, Any]]
    summary: RunSummary
    store_path: Path


def _run(config: Path, store_path: Path, classifier: str | None) -> _Run:
    request = session.RunRequest((TESTED,), _matrix(), config_path=config, classifier=classifier)
    store = open_store(store_path, "json")
    options = RunOptions(max_workers=WORKERS, retry=RetryPolicy(max_retries=1, base_delay_s=0.0))
    context = context_of_request(config, store)
    prepared = session.prepare(request, context)
    summary = asyncio.run(session.execute(prepared, context, options))
    rows = store.scan().to_pylist()
    store.close()
    return _Run(rows, summary, store_path)


def _not_full(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chosen = [row for row in rows if row["status"] in NOT_FULL]
    assert chosen, "the plan must give the classifier something to classify"
    return chosen


def _classifier_requests(fake: FakeOpenAI, deployment: str) -> list[dict[str, Any]]:
    return [request for request in fake.requests if request["model"] == deployment]


def test_a_model_classifier_names_the_category_and_the_row_says_so(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLASSIFIER_KEY", SENTINEL)
    run = _run(_config(tmp_path, fake), tmp_path / "store", "judge")
    classified = _not_full(run.rows)
    for row in classified:
        assert row["error_category"] == VERDICT
        assert row["error_classifier"] == "ai:judge"
    for row in run.rows:
        if row["status"] == "full_success":
            assert row["error_category"] is None and row["error_classifier"] is None
    asked = _classifier_requests(fake, f"classify-{VERDICT}")
    assert len(asked) == len(classified), "one classifier call per partial or failed test"
    assert all(request["key"] == SENTINEL for request in asked), "the deployment's own key"
    assert "Test ID: " in asked[0]["body"]["messages"][0]["content"], "the rendered log was sent"
    assert SENTINEL not in repr(run.rows)
    assert run.summary.exit_code == 0


def test_without_a_classifier_the_rules_are_named_and_a_failing_classifier_changes_nothing(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLASSIFIER_KEY", SENTINEL)
    config = _config(tmp_path, fake)
    rules = _run(config, tmp_path / "rules", None)
    broken = _run(config, tmp_path / "broken", "broken-judge")

    for row in rules.rows:
        expected = "rules" if row["status"] in NOT_FULL else None
        assert row["error_classifier"] == expected
    by_rules = {row["test_id"]: row for row in rules.rows}
    assert {row["test_id"] for row in broken.rows} == set(by_rules)
    for row in broken.rows:  # a classifier answering 500 after every retry: the rules stand
        assert row["status"] == by_rules[row["test_id"]]["status"]
        assert row["error_category"] == by_rules[row["test_id"]]["error_category"]
        assert row["error_classifier"] == by_rules[row["test_id"]]["error_classifier"]
    assert all(row["status"] != "error" for row in broken.rows)
    assert {row["error_category"] for row in _not_full(broken.rows)} <= set(MODEL_ERROR_CATEGORIES)
    asked = _classifier_requests(fake, "http-500")
    assert len(asked) == 2 * len(_not_full(broken.rows)), "each call retried once, per policy"
    assert broken.summary.exit_code == rules.summary.exit_code == 0
    assert broken.summary.errors == 0


def test_a_classifier_that_echoes_the_key_never_puts_it_in_a_row(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLASSIFIER_KEY", SENTINEL)
    run = _run(_config(tmp_path, fake), tmp_path / "store", "denied-judge")
    classified = _not_full(run.rows)
    for row in classified:
        assert row["error_classifier"] == "rules"
    assert SENTINEL not in repr(run.rows)
    for stored in run.store_path.rglob("*"):
        if stored.is_file():
            assert SENTINEL.encode() not in stored.read_bytes(), stored
    # a rejected key switches the classifier off: only the calls already in flight (one per
    # worker) were made, not one per failed test
    assert len(_classifier_requests(fake, "http-401")) <= WORKERS < len(classified)
    assert run.summary.exit_code == 0 and not run.summary.stopped


def test_the_classifier_travels_in_the_request_json_for_shards(tmp_path: Path) -> None:
    request = session.RunRequest((TESTED,), _matrix(), classifier="judge")
    assert session.RunRequest.from_json(request.to_json()).classifier == "judge"
    plain = session.RunRequest((TESTED,), _matrix())
    assert session.RunRequest.from_json(plain.to_json()).classifier is None


def test_the_config_classifier_must_name_a_model(fake: FakeOpenAI, tmp_path: Path) -> None:
    assert load_config(_config(tmp_path, fake, classifier="JUDGE")).classifier == "judge"
    assert load_config(_config(tmp_path, fake, classifier=None)).classifier is None
    with pytest.raises(ConfigError, match="classifier = 'nobody' names no model of"):
        load_config(_config(tmp_path, fake, classifier="nobody"))


def test_an_unknown_classifier_option_is_a_usage_error(fake: FakeOpenAI, tmp_path: Path) -> None:
    inputs = session.PlanInputs(models=TESTED)
    with pytest.raises(UsageError, match="unknown model 'nobody'"):
        session.build_request(
            inputs,
            load_config(_config(tmp_path, fake)),
            mode="smart",
            options=RunOptions(),
            classifier="nobody",
        )


# --- the CLI: --classifier and the old bare --ai-classification -----------------------------


@dataclass(frozen=True)
class _Outcome:
    code: int
    stderr: str

    @property
    def info(self) -> list[str]:
        """The [INFO] notes about flags (not the store's or the summary's)."""
        return [line for line in self.stderr.splitlines() if line.startswith("[INFO] --")]


@pytest.fixture
def invoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., _Outcome]:
    for name in STORE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKE_CLASSIFIER_KEY", SENTINEL)

    def run(*args: str) -> _Outcome:
        code, _, err = main_in_process(capsys, *args)
        return _Outcome(code, err)

    return run


PLAN = (
    "--model",
    TESTED,
    "--prompt-types",
    "baseline",
    "--difficulty",
    "easy",
    "--task-types",
    "multi_stage_pipeline",
    "--tool-success-rate",
    "0.6",
    "--num-instances",
    "3",
)
CONFIGURED = (
    "[INFO] --ai-classification: mapped to --classifier judge (classifier in runbench.toml): "
    "partial and failed tests are classified by judge"
)
NONE_CONFIGURED = (
    "[INFO] --ai-classification: no classifier in runbench.toml: the rule-based classifier "
    'stays (write classifier = "<model>" or pass --classifier MODEL to use a model)'
)


def _stored(store: Path) -> list[dict[str, Any]]:
    opened = open_store(store, "json")
    try:
        return opened.scan().to_pylist()
    finally:
        opened.close()


def test_bare_ai_classification_uses_the_configured_classifier(
    fake: FakeOpenAI, tmp_path: Path, invoke: Callable[..., _Outcome]
) -> None:
    config = _config(tmp_path, fake)
    store = tmp_path / "store"
    result = invoke(
        "smart-batch", *PLAN, "--config", str(config), "--store", str(store), "--quiet",
        "--ai-classification",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.info == [CONFIGURED]
    rows = _not_full(_stored(store))
    assert {(row["error_category"], row["error_classifier"]) for row in rows} == {
        (VERDICT, "ai:judge")
    }


def test_bare_ai_classification_without_a_configured_classifier_keeps_the_rules(
    fake: FakeOpenAI, tmp_path: Path, invoke: Callable[..., _Outcome]
) -> None:
    config = _config(tmp_path, fake, classifier=None)
    store = tmp_path / "store"
    result = invoke(
        "smart-batch", *PLAN, "--config", str(config), "--store", str(store), "--quiet",
        "--ai-classification",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.info == [NONE_CONFIGURED]
    assert {row["error_classifier"] for row in _not_full(_stored(store))} == {"rules"}
    assert not fake.requests


def test_the_classifier_option_picks_a_model_and_wins_over_the_config(
    fake: FakeOpenAI, tmp_path: Path, invoke: Callable[..., _Outcome]
) -> None:
    config = _config(tmp_path, fake)
    store = tmp_path / "store"
    result = invoke(
        "batch", *PLAN, "--config", str(config), "--store", str(store), "--quiet",
        "--classifier", "broken-judge", "--max-retries", "0", "--ai-classification",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.info == [
        "[INFO] --ai-classification: partial and failed tests are classified by broken-judge "
        "(--classifier)"
    ]
    assert {row["error_classifier"] for row in _not_full(_stored(store))} == {"rules"}
    assert {request["model"] for request in fake.requests} == {"http-500"}


def test_no_ai_classification_contradicts_a_classifier(
    fake: FakeOpenAI, tmp_path: Path, invoke: Callable[..., _Outcome]
) -> None:
    config = _config(tmp_path, fake)
    result = invoke(
        "smart-batch", *PLAN, "--config", str(config), "--store", str(tmp_path / "s"),
        "--classifier", "judge", "--no-ai-classification", "--dry-run",
    )  # fmt: skip
    assert result.code == 2
    assert "give --classifier or --no-ai-classification, not both" in result.stderr
