"""The viewer's Arrow report equals ``report_from_frame`` on the same rows (issue 19)."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from runbench.analysis.cost import ModelPrice
from runbench.analysis.report import ALL_SUITES, Report, categorical, frame_of, report_from_frame
from runbench.analysis.report_arrow import _arrow_report, report_of_rows
from runbench.records import records_to_table
from runbench.synthetic import synthetic_records
from tests.analysis.conftest import make_record

GROUPINGS = [
    ("model", "prompt_type"),
    ("model", "difficulty"),
    ("model", "tool_success_rate"),
    ("prompt_type", "difficulty"),
    ("model",),
    ("task_type",),
]


def _rows() -> pa.Table:
    """Synthetic rows, with tests run again (judged after an error, error after a judged
    attempt, judged twice), NaN and null scores, in two chunks with their own dictionaries."""
    records = list(synthetic_records(3000, seed=7, run_id="run-1"))
    chooser = random.Random(3)
    again = []
    for record in chooser.sample(records, 400):
        status = chooser.choice(["error", "full_success", "failure", "partial_success"])
        category = {"error": "api_error", "failure": "other_errors"}.get(status)
        again.append(
            dataclasses.replace(
                record,
                attempt=record.attempt + 1,
                run_id="run-2",
                recorded_at=record.recorded_at.replace(year=2027),
                status=status,
                success=status in ("full_success", "partial_success"),
                error_category=category,
                workflow_score=None if status == "error" else chooser.random(),
            )
        )
    extra = [make_record("lonely-model", "error", instance=index) for index in range(3)]
    table = records_to_table([*records, *again, *extra])
    nan_rows = pa.array([index % 97 == 0 for index in range(table.num_rows)])
    scores = pc.if_else(nan_rows, float("nan"), table.column("phase2_score"))
    table = table.set_column(table.schema.get_field_index("phase2_score"), "phase2_score", scores)
    half = table.num_rows // 2
    first, second = categorical(table.slice(0, half)), categorical(table.slice(half))
    return pa.concat_tables([first, second])


def _repeated(rows: pa.Table) -> frozenset[str]:
    counts = Counter(rows.column("test_id").to_pylist())
    return frozenset(test_id for test_id, count in counts.items() if count > 1)


def _assert_same(arrow: Report | None, pandas: Report) -> None:
    assert arrow is not None
    assert arrow.by == pandas.by
    assert [group.group for group in arrow.groups] == [group.group for group in pandas.groups]
    for ours, theirs in zip(arrow.groups, pandas.groups, strict=True):
        mine, expected = dataclasses.asdict(ours), dataclasses.asdict(theirs)
        for name, value in expected.items():
            if isinstance(value, float):
                assert mine[name] == pytest.approx(value, rel=1e-9), (ours.group, name)
            else:
                assert mine[name] == value, (ours.group, name)


@pytest.mark.parametrize("by", GROUPINGS)
def test_the_arrow_report_equals_the_pandas_report(by: tuple[str, ...]) -> None:
    rows = _rows()
    repeated = _repeated(rows)
    assert repeated  # the rule for tests run more than once is exercised
    some = {"sim-strong": ModelPrice(1.0, 2.0), "sim-weak": ModelPrice(0.5, 4.0)}
    every = {**some, "sim-average": ModelPrice(3.0, 1.0), "lonely-model": ModelPrice(1.0, 1.0)}
    for priced in (None, some, every):
        arrow = _arrow_report(rows, list(by), priced, repeated)
        _assert_same(arrow, report_from_frame(frame_of(rows, ALL_SUITES), by, priced))
        assert any(group.superseded_attempts for group in arrow.groups)
        assert any(group.infra_errors for group in arrow.groups)
        costs = [group.cost_usd is not None for group in arrow.groups]
        assert all(costs) if priced is every else not all(costs)
    one_model = rows.filter(pc.equal(rows.column("model"), "sim-weak"))
    _assert_same(
        _arrow_report(one_model, list(by), None, _repeated(one_model)),
        report_from_frame(frame_of(one_model, ALL_SUITES), by),
    )


def test_groups_without_a_judged_test_and_empty_rows_match() -> None:
    rows = _rows()
    only_errors = rows.filter(pc.equal(rows.column("model"), "lonely-model"))
    arrow = _arrow_report(only_errors, ["model"], None, frozenset())
    _assert_same(arrow, report_from_frame(frame_of(only_errors, ALL_SUITES), ["model"]))
    assert arrow is not None
    assert arrow.groups[0].tests == 0 and arrow.groups[0].infra_errors == 3
    empty = rows.slice(0, 0)
    assert report_of_rows(empty, ["model"], None, frozenset()).groups == ()


def test_groupings_arrow_does_not_cover_go_through_pandas(monkeypatch: Any) -> None:
    import runbench.analysis.report_arrow as module

    rows = _rows()
    called: list[tuple[str, ...]] = []

    def spy(*args: Any, **kwargs: Any) -> Report:
        called.append(tuple(args[1]))
        return report_from_frame(*args, **kwargs)

    monkeypatch.setattr(module, "report_from_frame", spy)
    report_of_rows(rows, ["model"], None, _repeated(rows))
    assert called == []  # the viewer's groupings are aggregated in Arrow
    report_of_rows(rows, ["provider"], None, _repeated(rows))
    report_of_rows(rows, ["model"], None, None)
    assert called == [("provider",), ("model",)]


def test_the_numbers_do_not_depend_on_the_order_or_chunking_of_the_rows() -> None:
    """A poll adds rows to those held; its page must equal a fresh read's to the last bit."""
    rows = _rows()
    repeated = _repeated(rows)
    order = list(range(rows.num_rows))
    random.Random(5).shuffle(order)
    shuffled = rows.take(pa.array(order))
    rechunked = pa.concat_tables(
        [shuffled.slice(start, 700) for start in range(0, shuffled.num_rows, 700)]
    )
    prices = {"sim-strong": ModelPrice(1.0, 2.0), "sim-weak": ModelPrice(0.5, 4.0)}
    for by in GROUPINGS:
        expected = _arrow_report(rows, list(by), prices, repeated)
        assert _arrow_report(rechunked, list(by), prices, repeated) == expected


def test_measures_that_cannot_be_summed_exactly_go_through_pandas() -> None:
    rows = _rows()
    index = rows.schema.get_field_index("final_score")
    huge = pc.if_else(
        pa.array([position == 5 for position in range(rows.num_rows)]),
        float("inf"),
        rows.column("final_score"),
    )
    infinite = rows.set_column(index, "final_score", huge)
    assert _arrow_report(infinite, ["model"], None, _repeated(rows)) is None
    fallback = report_of_rows(infinite, ["model"], None, _repeated(rows))
    assert fallback == report_from_frame(frame_of(infinite, ALL_SUITES), ["model"])
