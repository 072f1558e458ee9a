from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runbench.analysis.runs import find_run, list_runs, run_info
from runbench.errors import UsageError
from runbench.storage import Store, open_store


def manifest(run_id: str, started: str, ended: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "command": ["runbench", "smart-batch", "--model", "sim-strong"],
        "version": "0.1.0",
        "git_revision": "abc1234",
        "config_digest": "sha256:1",
        "plan_digest": "sha256:2",
        "storage": "json",
        "host": "box",
        "started_at": started,
        "ended_at": ended,
        "counts": {"planned": 10, "finished": 8, "errors": 1, "not_run": 1},
        "exit_code": None if ended is None else 1,
        **extra,
    }


class WithManifests:
    """A store plus the manifests() the Store protocol is gaining (newest first, raw dicts)."""

    def __init__(self, store: Store, manifests: list[dict[str, Any]]) -> None:
        self._store = store
        self._manifests = manifests

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def manifests(self) -> list[dict[str, Any]]:
        return list(self._manifests)


def test_runs_are_listed_newest_first_with_their_provenance(tmp_path: Path) -> None:
    store = WithManifests(
        open_store(tmp_path, "json"),
        [
            manifest("11111111-old", "2026-11-01T10:00:00+00:00", "2026-11-01T10:30:00+00:00"),
            manifest("22222222-new", "2026-11-02T09:00:00+00:00"),
        ],
    )
    runs = list_runs(store)  # type: ignore[arg-type]
    assert [run.run_id for run in runs] == ["22222222-new", "11111111-old"]
    newest, oldest = runs
    assert not newest.is_finished and newest.duration_s is None
    assert oldest.duration_s == 1800.0 and oldest.exit_code == 1
    assert oldest.command_line == "runbench smart-batch --model sim-strong"
    as_json = oldest.to_dict()
    assert as_json["counts"] == {"planned": 10, "finished": 8, "errors": 1, "not_run": 1}
    for name in ("git_revision", "config_digest", "plan_digest", "storage", "host", "version"):
        assert as_json[name] is not None, name


def test_a_store_without_manifests_lists_no_runs(tmp_path: Path) -> None:
    assert list_runs(open_store(tmp_path, "parquet")) == []


def test_a_run_is_found_by_a_unique_prefix_and_ambiguity_is_an_error(tmp_path: Path) -> None:
    store = WithManifests(
        open_store(tmp_path, "json"),
        [
            manifest("abcd-1", "2026-11-01T10:00:00+00:00"),
            manifest("abcd-2", "2026-11-01T11:00:00+00:00"),
            manifest("ffff-3", "2026-11-01T12:00:00+00:00"),
        ],
    )
    assert find_run(store, "ffff").run_id == "ffff-3"  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="ambiguous: abcd-2, abcd-1"):
        find_run(store, "abcd")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no run '9999'"):
        find_run(store, "9999")  # type: ignore[arg-type]


def test_older_manifests_missing_fields_still_list() -> None:
    info = run_info({"run_id": "r", "runbench_version": "0.0.9"})
    assert info.version == "0.0.9" and info.counts.planned == 0 and info.command == ()
    with pytest.raises(ValueError):
        run_info({"command": []})
