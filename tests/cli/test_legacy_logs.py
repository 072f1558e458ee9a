"""WorkflowBench's logs through the real CLI: import, report/show/compare, rescore, safe index."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runbench.storage import open_store
from tests.cli.conftest import Outcome
from tests.fakes import wb_logs

FULL_WORKFLOW = 0.92
FULL_QUALITY = 0.32 + 0.3 + 0.2 * FULL_WORKFLOW
FULL_PHASE2 = 0.5 + 0.5 * FULL_QUALITY


def _full(model: str, number: int, **scores: Any) -> dict[str, Any]:
    """A full success scored by hand (see tests/workload/test_log_judge.py for the sums)."""
    result = {
        "success": True,
        "workflow_score": FULL_WORKFLOW,
        "phase2_score": FULL_PHASE2,
        "quality_score": FULL_QUALITY,
        "final_score": FULL_PHASE2,
        **scores,
    }
    return wb_logs.log(
        model=model,
        test_number=number,
        required=["file_reader", "data_parser"],
        plan=["file_reader", "data_parser"],
        replies=["<tool_call>file_reader</tool_call>", "<tool_call>data_parser</tool_call>"],
        runs=[("file_reader", True), ("data_parser", True)],
        result=result,
    )


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "test_logs"
    wb_logs.write_log(folder, _full("DeepSeek_V3_0324", 1))
    wb_logs.write_log(folder, _full("qwen2_5_72b_instruct", 2))
    disturbed = _full("qwen2_5_72b_instruct", 3)
    disturbed["api_issues"] = [{"turn": 1, "issue": "API failed after max retries"}]
    disturbed["result"].update(success=False, error="Unknown error")
    wb_logs.write_log(folder / "nested", disturbed)
    wb_logs.write_log(folder, wb_logs.timeout_log())
    (folder / "torn_log.json").write_text('{"test_id": "torn", "conversation_history": [')
    (folder / "notes_log.txt").write_text("not a json log")
    return folder


@pytest.fixture
def imported(invoke: Callable[..., Outcome], logs: Path, tmp_path: Path) -> str:
    """The logs imported into a JSON store; its root."""
    store = str(tmp_path / "store")
    invoke("migrate", "--legacy-logs", str(logs), "--store", store)
    return store


def _rows(store: Path) -> list[dict[str, Any]]:
    return open_store(store, "json").scan().to_pylist()


def test_import_maps_each_log_and_a_second_import_adds_nothing(
    invoke: Callable[..., Outcome], logs: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = invoke("migrate", "--legacy-logs", str(logs), "--store", str(store))
    assert first.code == 1
    assert first.error_lines == ["damaged log torn_log.json: not valid JSON "
                                 "(Expecting value: line 1 column 46 (char 45))"]  # fmt: skip
    rows = {row["model"]: row for row in _rows(store) if row["status"] != "error"}
    errors = [row for row in _rows(store) if row["status"] == "error"]
    assert len(rows) == 2 and len(errors) == 2
    full = rows["DeepSeek-V3-0324"]
    assert (full["suite"], full["prompt_type"], full["flaw_type"], full["task_type"]) == (
        "legacy-logs", "optimal", None, "basic_task",
    )  # fmt: skip
    assert full["task_id"] == "task_0000abcd" and full["status"] == "full_success"
    assert full["workflow_score"] == FULL_WORKFLOW and full["phase2_score"] == FULL_PHASE2
    assert full["executed_tools"] == ["file_reader", "data_parser"] and full["tool_calls"] == 2
    assert rows["qwen2.5-72b-instruct"]["instance"] == full["instance"]  # same task pairs up
    by_category = {row["error_category"]: row for row in errors}
    assert set(by_category) == {"api_error", "test_timeout"}
    assert by_category["test_timeout"]["model"] == "unknown"
    api = by_category["api_error"]
    assert api["model"] == "qwen2.5-72b-instruct" and not api["success"]
    assert "WorkflowBench counted it as failure" in api["error_message"]
    transcript = open_store(store, "json").read_transcript(full["transcript"])
    original = json.loads(
        (logs / f"{_full('DeepSeek_V3_0324', 1)['test_id']}_log.json").read_text()
    )
    assert transcript["messages"] == original["conversation_history"]
    assert transcript["log"]["execution_history"] == original["execution_history"]
    assert transcript["log"]["prompt"] == original["prompt"]

    again = invoke("migrate", "--legacy-logs", str(logs), "--store", str(store), "--json")
    assert again.code == 1
    summary = json.loads(again.stdout)
    assert (summary["imported"], summary["already_present"]) == (0, 4)
    assert len(_rows(store)) == 4


def test_report_show_and_compare_work_on_imported_logs(
    invoke: Callable[..., Outcome], imported: str
) -> None:
    store = imported
    report = invoke("report", "--suite", "legacy-logs", "--store", store)
    assert report.code == 0 and "DeepSeek-V3-0324" in report.stdout
    full = next(row for row in _rows(Path(store)) if row["model"] == "DeepSeek-V3-0324")
    show = invoke("show", full["test_id"], "--store", store)
    assert show.code == 0 and "<tool_call>data_parser</tool_call>" in show.stdout
    compare = invoke(
        "compare", "DeepSeek-V3-0324", "qwen2.5-72b-instruct", "--suite", "legacy-logs",
        "--store", store,
    )  # fmt: skip
    assert compare.code == 0 and "all" in compare.stdout


def test_rescore_agrees_and_names_a_tampered_score(
    invoke: Callable[..., Outcome], logs: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    index = str(wb_logs.write_index(tmp_path / "tool_index.pkl"))
    wb_logs.write_log(logs, _full("Llama_3_3_70B_Instruct", 4, workflow_score=0.5))
    invoke("migrate", "--legacy-logs", str(logs), "--store", store)
    result = invoke(
        "rescore", "--suite", "legacy-logs", "--tool-index", index, "--store", store,
        "--show-differences", "3", "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tests"] == 3
    fields = summary["fields"]
    assert set(fields) == {
        "tool_calls", "workflow_score", "phase2_score", "quality_score", "final_score", "success"
    }  # fmt: skip
    for name in ("tool_calls", "phase2_score", "quality_score", "final_score", "success"):
        assert (fields[name]["equal"], fields[name]["total"]) == (3, 3), name
        assert fields[name]["max_abs_diff"] < 1e-12, name
    assert fields["workflow_score"]["equal"] == 2
    assert fields["workflow_score"]["max_abs_diff"] == pytest.approx(0.42)
    (difference,) = summary["differences"]
    tampered = next(r for r in _rows(Path(store)) if r["model"] == "Llama-3.3-70B-Instruct")
    assert difference["test_id"] == tampered["test_id"]
    assert (difference["stored"], difference["judged"]) == (0.5, pytest.approx(FULL_WORKFLOW))

    text = invoke("rescore", "--suite", "legacy-logs", "--tool-index", index, "--store", store)
    assert text.code == 0 and "workflow_score" in text.stdout and "66.67%" in text.stdout


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_an_index_that_would_run_a_command_is_refused_in_one_line(
    invoke: Callable[..., Outcome], imported: str, tmp_path: Path
) -> None:
    store = imported
    marker = tmp_path / "ran"
    document = wb_logs.index_document(wb_logs.tool_vectors())
    document["config"]["hook"] = _RunsACommand(marker)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(document))
    result = invoke(
        "rescore", "--suite", "legacy-logs", "--tool-index", str(evil), "--store", store
    )
    assert result.code == 2
    assert not marker.exists()
    assert len(result.error_lines) == 1 and "evil.pkl refused" in result.error_lines[0]
    assert "Traceback" not in result.stderr


def test_rescore_without_registry_or_index_says_what_to_pass(
    invoke: Callable[..., Outcome], imported: str
) -> None:
    result = invoke("rescore", "--suite", "legacy-logs", "--store", imported)
    assert result.code == 0 and "rescored 0 test(s)" in result.stdout
    assert "not judged: 2 test(s), WorkflowBench logs need its registry or index" in result.stdout


def test_a_missing_folder_or_a_foreign_log_is_one_line(
    invoke: Callable[..., Outcome], tmp_path: Path
) -> None:
    missing = invoke(
        "migrate", "--legacy-logs", str(tmp_path / "nowhere"), "--store", str(tmp_path)
    )
    assert missing.code == 2 and "Traceback" not in missing.stderr
    assert missing.error_lines[0].startswith("Error: --legacy-logs ")
    assert missing.error_lines[0].endswith("nowhere is not a folder")
    foreign = _full("DeepSeek_V3_0324", 9)
    foreign["prompt_type"] = "flawed_made_up"
    wb_logs.write_log(tmp_path / "logs", foreign)
    wb_logs.write_log(tmp_path / "logs", _full("DeepSeek_V3_0324", 10))
    result = invoke("migrate", "--legacy-logs", str(tmp_path / "logs"), "--store", str(tmp_path))
    assert result.code == 1
    assert result.error_lines == [
        f"damaged log {foreign['test_id']}_log.json: prompt type 'flawed_made_up' is not one "
        "runbench knows"
    ]
    assert len(_rows(tmp_path)) == 1


def test_a_key_echoed_into_a_log_never_reaches_the_store(
    invoke: Callable[..., Outcome], tmp_path: Path
) -> None:
    secret = "sk-live0123456789abcdefSECRET"
    leaky = _full("DeepSeek_V3_0324", 11)
    leaky["api_issues"] = [{"turn": 1, "issue": f"401: Authorization: Bearer {secret}"}]
    leaky["result"]["error"] = f"Error code: 401 - Incorrect API key provided: {secret}"
    leaky["conversation_history"][0]["content"] += f"\napi-key: {secret}"
    wb_logs.write_log(tmp_path / "logs", leaky)
    store = tmp_path / "store"
    assert (
        invoke("migrate", "--legacy-logs", str(tmp_path / "logs"), "--store", str(store)).code == 0
    )
    files = [path for path in store.rglob("*") if path.is_file()]
    assert files and not any(secret.encode() in path.read_bytes() for path in files)
    (row,) = _rows(store)
    assert row["status"] == "error" and "[redacted]" in row["error_message"]


def test_rescore_takes_the_tool_index_from_runbench_toml(
    invoke: Callable[..., Outcome], imported: str, tmp_path: Path
) -> None:
    wb_logs.write_index(tmp_path / "tool_index.pkl")
    config = tmp_path / "runbench.toml"
    config.write_text('tool_index = "tool_index.pkl"\n')
    result = invoke(
        "rescore", "--suite", "legacy-logs", "--config", str(config), "--store", imported, "--json"
    )
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["similarity_source"] == "index:text-embedding-3-large"
    assert summary["tests"] == 2 and summary["fields"]["phase2_score"]["equal"] == 2
