"""verify, compact and migrate print exactly what they found and did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runbench.records import Record
from runbench.storage import open_store
from tests.cli.conftest import Outcome


def test_verify_names_the_damaged_line_and_counts_the_rest(
    tmp_path: Path, records: list[Record], invoke: Callable[..., Outcome]
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:3])
    with open(tmp_path / "json" / "records.jsonl", "ab") as handle:
        handle.write(b"garbage\n")
    store.append(records[3:5])
    store.close()
    result = invoke("verify", "--store", str(tmp_path))
    assert result.code == 1
    assert result.lines[-1] == "5 rows in 1 file(s): 1 damaged piece(s)"
    assert result.lines[0].startswith("DAMAGED corrupt_line")
    assert "records.jsonl:4" in result.lines[0]
    assert result.stderr.splitlines()[0] == f"[INFO] storage: json ({tmp_path / 'json'})"


def test_migrate_says_what_it_copied_and_a_second_run_copies_nothing(
    tmp_path: Path, records: list[Record], invoke: Callable[..., Outcome]
) -> None:
    store = open_store(tmp_path, "json")
    store.append(records[:40])
    store.close()
    first = invoke("migrate", "--store", str(tmp_path))
    assert first.code == 0, first.stderr
    assert first.lines[0] == (
        "json -> parquet: 40 source rows, 0 already present, 0 duplicate(s) in source, copied 40"
    )
    assert first.lines[1].startswith("verified 40 rows (count and content checksum) in ")
    again = invoke("migrate", "--store", str(tmp_path), "--dry-run")
    assert again.lines == [
        "json -> parquet: 40 source rows, 40 already present, 0 duplicate(s) in source, "
        "would copy 0"
    ]


def test_a_read_only_command_never_creates_a_store(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    missing = tmp_path / "nothing-here"
    for command in (["verify"], ["compact"], ["report"], ["status", "--model", "sim-weak"]):
        result = invoke(*command, "--store", str(missing))
        assert result.code == 2, (command, result.stderr)
        assert result.error_lines[0] == f"Error: no json store at {(missing / 'json').resolve()}"
    assert not missing.exists()


def test_a_model_or_suite_that_matches_nothing_is_named_with_close_names(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    ran = invoke(
        "smart-batch",
        "--model",
        "sim-average",
        "--task-types",
        "simple_task",
        "--num-instances",
        "2",
        "--store",
        str(tmp_path),
        "--quiet",
    )
    assert ran.code == 0, ran.stderr
    report = invoke("report", "--model", "sim-avrage", "--store", str(tmp_path))
    assert report.code == 2
    assert report.error_lines[0] == (
        "Error: no results for model 'sim-avrage' in this store; did you mean sim-average? "
        "(stored: sim-average)"
    )
    suite = invoke("report", "--suite", "legacy", "--store", str(tmp_path))
    assert suite.code == 2 and "no results for suite 'legacy'" in suite.error_lines[0]
    status = invoke("status", "--model", "sim-avrage", "--store", str(tmp_path))
    assert status.code == 2 and "did you mean sim-average?" in status.error_lines[0]
    compare = invoke("compare", "sim-average", "sim-weak", "--store", str(tmp_path))
    assert compare.code == 2 and "no results for model 'sim-weak'" in compare.error_lines[0]


def test_compare_says_when_the_filters_not_the_model_are_empty(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    for model in ("sim-average", "sim-weak"):
        ran = invoke(
            "smart-batch",
            "--model",
            model,
            "--task-types",
            "simple_task",
            "--num-instances",
            "2",
            "--store",
            str(tmp_path),
            "--quiet",
        )
        assert ran.code == 0, ran.stderr
    result = invoke(
        "compare", "sim-average", "sim-weak", "--difficulty", "hard", "--store", str(tmp_path)
    )
    assert result.code == 2
    assert result.error_lines[0] == (
        "Error: model 'sim-average' has results, but none match the filters"
    )


def test_control_characters_in_stored_names_are_printed_as_escapes(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    import json as jsonlib

    legacy = tmp_path / "master.json"
    leaf = {
        "total": 2,
        "success": 1,
        "full_success": 1,
        "partial_success": 0,
        "failed": 1,
        "total_errors": 1,
        "other_errors": 1,
    }
    document = {
        "models": {
            "evil\u202emodel\x00": {
                "by_prompt_type": {
                    "optimal": {
                        "by_tool_success_rate": {
                            "0.8": {
                                "by_difficulty": {"easy": {"by_task_type": {"simple_task": leaf}}}
                            }
                        }
                    }
                }
            }
        }
    }
    legacy.write_text(jsonlib.dumps(document))
    result = invoke("migrate", "--legacy", str(legacy), "--store", str(tmp_path / "s"))
    assert "\u202e" not in result.stdout and "\x00" not in result.stdout
    assert "\u202e" not in result.stderr and "\x00" not in result.stderr
    if result.code == 0:
        assert "evil\\u202emodel\\x00" in result.stdout


def test_the_legacy_import_prints_its_table_exactly(
    tmp_path: Path, invoke: Callable[..., Outcome]
) -> None:
    from tests.conftest import FIXTURES

    fixture = FIXTURES / "legacy_v3_mixed_and_debris.json"
    result = invoke("migrate", "--legacy", str(fixture), "--store", str(tmp_path))
    assert result.code == 0, result.stderr
    rows = [line.strip() for line in result.lines if line.strip()]
    assert rows[:5] == [
        "legacy import: legacy_v3_mixed_and_debris.json",
        "model  imported  present  corrected  leaves n/d/m  debris in/out",
        "─" * 64,
        "alpha        16        0         10         1/1/1            0/8",
        "beta          3        0          0         1/0/0            3/0",
    ]
    assert rows[-3:] == [
        "ignored top-level entry 'created_at': file metadata",
        "ignored top-level entry 'test_groups': unused since V3",
        "ignored top-level entry 'summary': file-wide totals, derived and not trusted "
        "(they include the doubling)",
    ]
    assert (
        "skipped beta/optimal/0.8/easy/multi_stage_pipeline: counters fit neither a normal, "
        "doubled nor mixed leaf (total=9, success=1, failed=8, full_success=1, total_errors=2)"
    ) in rows
    again = invoke("migrate", "--legacy", str(fixture), "--store", str(tmp_path))
    assert "alpha         0       16          0         1/1/1            0/8" in again.stdout
