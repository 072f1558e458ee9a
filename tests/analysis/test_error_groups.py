from __future__ import annotations

from pathlib import Path

import pytest

from runbench.analysis.error_groups import error_groups, top_reasons
from runbench.storage import open_store
from tests.analysis.conftest import make_record


@pytest.fixture
def store(tmp_path: Path, storage_format: str):  # type: ignore[no-untyped-def]
    opened = open_store(tmp_path, storage_format)

    def error(model: str, instance: int, minutes: int, **fields: object):  # type: ignore[no-untyped-def]
        return make_record(model, "error", instance=instance, minutes=minutes, **fields)

    opened.append(
        [
            error("a", 0, 5, deployment="a-1", error_message="HTTP 503"),
            error("a", 1, 1, deployment="a-1", error_message="HTTP 503"),
            error("a", 2, 9, deployment="a-1", error_message="HTTP 503", run_id="run-2"),
            error("a", 3, 2, deployment="a-2", error_message="HTTP 503"),
            error("a", 4, 3, deployment="a-1", error_category="rate_limited", error_message="429"),
            error("b", 0, 4, error_category="test_timeout", error_message="test exceeded 60 s"),
            # judged rows never appear, whatever their model-side category
            make_record("a", "failure", instance=7),
            make_record("b", "partial_success", instance=8),
        ]
    )
    return opened


def test_errors_group_by_endpoint_category_and_message_largest_first(store) -> None:  # type: ignore[no-untyped-def]
    groups = error_groups(store)
    assert [(g.endpoint, g.category, g.message, g.count) for g in groups] == [
        ("sim/a-1", "api_error", "HTTP 503", 3),
        ("sim/a-1", "rate_limited", "429", 1),
        ("sim/a-2", "api_error", "HTTP 503", 1),
        ("sim/b", "test_timeout", "test exceeded 60 s", 1),
    ]


def test_a_group_knows_first_and_last_seen_and_example_tests(store) -> None:  # type: ignore[no-untyped-def]
    top = error_groups(store)[0]
    assert top.first_seen.startswith("2026-11-01T00:01")
    assert top.last_seen.startswith("2026-11-01T00:09")
    assert len(top.example_test_ids) == 3 and len(set(top.example_test_ids)) == 3
    assert top.example_test_ids[0] == make_record("a", "error", instance=1).test_id  # oldest first
    as_json = top.to_dict()
    assert as_json["endpoint"] == "sim/a-1" and as_json["models"] == ["a"]
    assert as_json["count"] == 3


def test_errors_filter_by_run_and_model(store) -> None:  # type: ignore[no-untyped-def]
    assert [g.count for g in error_groups(store, run_id="run-2")] == [1]
    assert {g.endpoint for g in error_groups(store, model="b")} == {"sim/b"}
    assert error_groups(store, run_id="run-2", model="b") == []


def test_top_reasons_keep_the_largest_groups_of_each_endpoint(store) -> None:  # type: ignore[no-untyped-def]
    chosen = top_reasons(error_groups(store), per_endpoint=1)
    assert {endpoint: [g.message for g in groups] for endpoint, groups in chosen.items()} == {
        "sim/a-1": ["HTTP 503"],
        "sim/a-2": ["HTTP 503"],
        "sim/b": ["test exceeded 60 s"],
    }


def test_a_group_reads_as_one_line_for_the_end_of_run_summary(store) -> None:  # type: ignore[no-untyped-def]
    assert error_groups(store)[0].describe() == "3× sim/a-1 api_error: HTTP 503, 00:01:00–00:09:00"
    assert error_groups(store)[-1].describe() == "1× sim/b test_timeout: test exceeded 60 s"


def test_groups_computed_in_arrow_equal_those_of_the_rows(store) -> None:  # type: ignore[no-untyped-def]
    """The viewer's Arrow grouping and the row grouping agree, whatever the rows hold.

    Extra rows add what the fixture lacks: an empty message, the same test erroring twice,
    two rows at the same time (ties keep row order) and more tests than examples kept.
    """
    from runbench.analysis.error_groups import groups_of_rows, groups_of_table

    extra = [
        make_record("c", "error", instance=i, minutes=7, error_message=message)
        for i, message in ((0, ""), (1, ""), (1, ""), (2, "x"), (3, "x"), (4, "x"), (5, "x"))
    ]
    store.append(extra)
    table = store.scan()
    assert groups_of_table(table) == groups_of_rows(table.to_pylist())
    assert groups_of_table(table.slice(0, 0)) == []
