"""One bad reply is one test's problem: provider-parallel through the real CLI, a healthy model
beside one that sends each bad value, then every reader reads every row (issue 16 req 4)."""

from __future__ import annotations

import json
from pathlib import Path

from runbench.storage import open_store
from tests.conftest import run_cli
from tests.fakes.openai_server import BAD_REPLIES

HEALTHY = ("sim-strong", "ok")
JUDGED_WITH_NULL_TOKENS = {
    "bad-negative-tokens": "prompt_tokens",
    "bad-huge-tokens": "completion_tokens",
}
ERROR_ROWS = (
    "bad-no-choices",
    "bad-error-body",
    "bad-no-message",
    "bad-surrogate-400",
    "bad-nested",
    "bad-huge-reply",
)


def _config(tmp_path: Path, fake) -> Path:  # type: ignore[no-untyped-def]
    lines = ["[providers.fake]", 'kind = "openai"', f'base_url = "{fake.base_url}"']
    lines += ['api_key_env = "FAKE_KEY"', "max_concurrency = 4", ""]
    for name in ("ok", *JUDGED_WITH_NULL_TOKENS, *ERROR_ROWS):
        lines += [f'[models."{name}"]', 'provider = "fake"', f'deployments = ["{name}"]', ""]
    path = tmp_path / "runbench.toml"
    path.write_text("\n".join(lines))
    return path


def test_bad_replies_are_their_tests_rows_and_every_reader_reads_every_row(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    assert set(JUDGED_WITH_NULL_TOKENS) | set(ERROR_ROWS) <= set(BAD_REPLIES)
    store = str(tmp_path / "store")
    models = (*HEALTHY, *JUDGED_WITH_NULL_TOKENS, *ERROR_ROWS)
    result = run_cli(
        "provider-parallel",
        "--models",
        ",".join(models),
        "--task-types",
        "simple_task",
        "--num-instances",
        "2",
        "--config",
        str(_config(tmp_path, fake_openai)),
        "--store",
        store,
        "--no-preflight",  # so the bad endpoints' tests run and leave their rows
        "--max-retries",
        "1",
        "--json",
        env={"FAKE_KEY": "sk-test-key-0123456789"},
    )
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr
    summary = json.loads(result.stdout)  # --json is honoured whatever the replies held
    assert summary["planned"] == 2 * len(models) and summary["not_run"] == 0
    assert summary["exit_code"] == result.returncode
    rows = open_store(Path(store), "json").scan().to_pylist()
    by_model: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_model.setdefault(str(row["model"]), []).append(row)
    assert sorted(by_model) == sorted(models) and len(rows) == 2 * len(models)
    for model in HEALTHY:
        assert all(row["status"] != "error" and row["prompt_tokens"] for row in by_model[model])
    for model, field in JUDGED_WITH_NULL_TOKENS.items():
        for row in by_model[model]:
            assert row["status"] != "error", "a bad count does not unmake the model's answer"
            assert row[field] is None, f"{model}: {field} stored as null"
            assert f"test {str(row['test_id'])[:12]}" in result.stderr, "warned, naming the test"
    for model in ERROR_ROWS:
        for row in by_model[model]:
            assert (row["status"], row["error_category"]) == ("error", "api_error"), model
            assert "\n" not in str(row["error_message"])
    surrogate = by_model["bad-surrogate-400"][0]["error_message"]
    assert "bad \\ud800 input" in str(surrogate), "escaped at the edge, not lost"

    for command in (("verify",), ("report",), ("errors",)):
        read = run_cli(*command, "--store", store)
        assert read.returncode == 0 and "Traceback" not in read.stderr, (command, read.stderr)
    assert "bad-negative-tokens" in run_cli("report", "--store", store).stdout
    moved = run_cli("migrate", "--store", store)
    assert moved.returncode == 0, moved.stderr
    assert len(open_store(Path(store), "parquet").scan().to_pylist()) == len(rows)
    verified = run_cli("verify", "--store", store, "--storage", "parquet")
    assert verified.returncode == 0 and "clean" in verified.stdout, verified.stderr


def test_preflight_names_each_endpoint_that_answers_without_an_answer_in_one_line(
    tmp_path: Path, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    store = str(tmp_path / "store")
    result = run_cli(
        "provider-parallel",
        "--models",
        "sim-strong,bad-no-choices,bad-error-body,bad-nested",
        "--task-types",
        "simple_task",
        "--num-instances",
        "1",
        "--config",
        str(_config(tmp_path, fake_openai)),
        "--store",
        store,
        "--quiet",
        env={"FAKE_KEY": "sk-test-key-0123456789"},
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    for said in (
        "fake/bad-no-choices: HTTP 200 without an answer (no choices)",
        "fake/bad-error-body: HTTP 200 with an error body: upstream overloaded",
        "fake/bad-nested: unreadable reply (JSON nested too deeply)",
    ):
        assert sum(said in line for line in result.stderr.splitlines()) == 1, said
    rows = open_store(Path(store), "json").scan().to_pylist()
    assert [row["model"] for row in rows] == ["sim-strong"], "the healthy model ran"
