from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from runbench.analysis.show import resolve_test_id, show_test
from runbench.cli.show_view import render_test_view
from runbench.errors import StoreError, UsageError
from runbench.storage import open_store
from tests.analysis.conftest import make_record

LONG_DEPLOYMENT = "DeepSeek-V3-0324-eastus2-secondary-deployment"


@pytest.fixture
def store(tmp_path: Path, storage_format: str):  # type: ignore[no-untyped-def]
    opened = open_store(tmp_path, storage_format)
    first = make_record(
        "m", "error", instance=0, error_message="HTTP 503", deployment=LONG_DEPLOYMENT
    )
    test_id = first.test_id
    relative = f"transcripts/run-2/{test_id}-2.json"
    (tmp_path / "transcripts" / "run-2").mkdir(parents=True)
    (tmp_path / relative).write_text(
        json.dumps(
            [
                {"role": "system", "content": "You plan workflows."},
                {"role": "assistant", "content": "<tool_call>file_reader</tool_call>"},
                {"role": "tool", "content": {"ok": True}, "name": "file_reader"},
            ]
        )
    )
    opened.append(
        [
            first,
            make_record(
                "m",
                "partial_success",
                instance=0,
                attempt=2,
                run_id="run-2",
                minutes=3,
                transcript=relative,
                phase2_score=0.7,
                quality_score=0.6,
                final_score=0.65,
                prompt_tokens=1200,
                completion_tokens=80,
                turns=4,
            ),
            make_record("m", "full_success", instance=1),
        ]
    )
    return opened


def test_show_lists_attempts_marks_the_counting_one_and_reads_the_transcript(store) -> None:  # type: ignore[no-untyped-def]
    test_id = make_record("m", "error", instance=0).test_id
    view = show_test(store, test_id[:8])
    assert view.test_id == test_id
    assert [(a.attempt, a.status, a.counts) for a in view.attempts] == [
        (1, "error", False),
        (2, "partial_success", True),
    ]
    second = view.attempts[1]
    assert second.scores == {
        "workflow_score": 0.5,
        "phase2_score": 0.7,
        "quality_score": 0.6,
        "final_score": 0.65,
    }
    assert second.details["prompt_tokens"] == 1200 and second.details["turns"] == 4
    assert view.transcript_attempt == 2
    assert [m["role"] for m in view.transcript or []] == ["system", "assistant", "tool"]
    as_json = json.loads(json.dumps(view.to_dict()))
    assert as_json["done"] is True and as_json["model"] == "m"
    assert as_json["attempts"][0]["error_message"] == "HTTP 503"


def test_an_ambiguous_prefix_is_a_usage_error_listing_the_candidates(store) -> None:  # type: ignore[no-untyped-def]
    ids = sorted(make_record("m", "full_success", instance=i).test_id for i in (0, 1))
    shared = 0
    while ids[0][shared] == ids[1][shared]:
        shared += 1
    prefix = ids[0][: max(shared, 4)]
    if ids[1].startswith(prefix):
        with pytest.raises(UsageError, match="ambiguous") as raised:
            resolve_test_id(store, prefix)
        assert ids[0] in raised.value.message and ids[1] in raised.value.message
    with pytest.raises(UsageError, match="too short"):
        resolve_test_id(store, "ab")


def test_an_unknown_id_names_the_closest_ones(store) -> None:  # type: ignore[no-untyped-def]
    real = make_record("m", "full_success", instance=1).test_id
    typo = real[:9] + ("0" if real[9] != "0" else "1") + real[10:]
    with pytest.raises(UsageError) as raised:
        show_test(store, typo)
    assert "no test" in raised.value.message and real in raised.value.message


def test_a_missing_transcript_file_is_reported_not_raised(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    test_id = make_record("m", "error", instance=0).test_id
    (tmp_path / f"transcripts/run-2/{test_id}-2.json").unlink()
    view = show_test(store, test_id)
    assert view.transcript is None and "missing" in (view.transcript_problem or "")


def test_a_transcript_path_outside_the_store_is_refused(tmp_path: Path) -> None:
    from runbench.analysis.transcripts import read_transcript

    store = open_store(tmp_path / "s", "json")
    (tmp_path / "secret.json").write_text("{}")
    with pytest.raises(StoreError, match="outside the store"):
        read_transcript(store, "../secret.json")


def test_the_rich_view_never_cuts_names_at_80_columns(store) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None)
    view = show_test(store, make_record("m", "error", instance=0).test_id)
    console.print(render_test_view(view))
    text = buffer.getvalue()
    assert "…" not in text
    assert f"sim/{LONG_DEPLOYMENT}" in text  # whole, on one line
    assert "✓ the attempt every statistic counts" in text
    assert "<tool_call>file_reader</tool_call>" in text
    assert "transcript of attempt 2" in text


def test_an_attempt_leads_to_its_run_manifest(store) -> None:  # type: ignore[no-untyped-def]
    from tests.analysis.test_runs import WithManifests, manifest

    wrapped = WithManifests(store, [manifest("run-2", "2026-11-01T00:00:00+00:00")])
    view = show_test(wrapped, make_record("m", "error", instance=0).test_id)  # type: ignore[arg-type]
    first, second = view.attempts
    assert first.run is None  # run-1 wrote no manifest
    assert second.run is not None and second.run.command[1] == "smart-batch"
    assert second.to_dict()["run"]["git_revision"] == "abc1234"
