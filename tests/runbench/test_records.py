from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runbench.errors import RecordError
from runbench.records import (
    FIELD_NAMES,
    FIELDS,
    STATUSES,
    Record,
    arrow_schema,
    encode_records,
    records_to_table,
    rows_to_table,
    storable_record,
    table_to_records,
    validate_record,
    validate_table,
)
from runbench.synthetic import synthetic_records

GOOD = next(synthetic_records(1, seed=3))


def test_arrow_schema_and_json_codec_derive_from_the_one_record_definition() -> None:
    names = [field.name for field in dataclasses.fields(Record)]
    assert tuple(names) == FIELD_NAMES
    assert arrow_schema().names == names
    assert list(json.loads(encode_records([GOOD]))) == names
    nullable = {spec.name for spec in FIELDS if spec.nullable}
    assert {"flaw_type", "error_category", "workflow_score", "transcript"} <= nullable
    assert not {"test_id", "attempt", "run_id", "status", "model"} & nullable


def test_json_round_trip_returns_an_equal_record() -> None:
    row = json.loads(encode_records([GOOD]))
    assert table_to_records(rows_to_table([row])) == [GOOD]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"test_id": None}, "test_id"),
        ({"test_id": "not-hex"}, "test_id"),
        ({"status": "exploded"}, "status"),
        ({"attempt": "1"}, "attempt"),
        ({"attempt": True}, "attempt"),
        ({"attempt": 0}, "attempt"),
        ({"tool_success_rate": 1.5}, "tool_success_rate"),
        ({"recorded_at": datetime(2026, 1, 1)}, "recorded_at"),  # noqa: DTZ001 - naive on purpose
        ({"difficulty": "trivial"}, "difficulty"),
        ({"required_tools": "a,b"}, "required_tools"),
        ({"success": not GOOD.success}, "success"),
        ({"error_category": "rate_limited"}, "error_category"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    bad = dataclasses.replace(GOOD, **change)
    with pytest.raises(RecordError) as row_error:
        validate_record(bad)
    assert row_error.value.field == field
    with pytest.raises(RecordError) as table_error:
        validate_table(records_to_table([bad]))
    assert table_error.value.field == field


def test_a_json_row_with_an_unknown_or_missing_field_is_refused() -> None:
    row = json.loads(encode_records([GOOD]))
    with pytest.raises(RecordError, match="'surprise' is not a record field"):
        rows_to_table([{**row, "surprise": 1}])
    del row["model"]
    with pytest.raises(RecordError, match="'model' is missing"):
        validate_table(rows_to_table([row]))


mutations = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from([*STATUSES, "weird"]),
        "success": st.booleans(),
        "prompt_type": st.sampled_from(["baseline", "cot", "flawed_tool_misuse", "flawed_nope"]),
        "flaw_type": st.sampled_from([None, "tool_misuse", "missing_step"]),
        "error_category": st.sampled_from([None, "api_error", "other_errors", "nonsense"]),
        "attempt": st.integers(-2, 3),
        "instance": st.integers(-2, 3),
        "tool_success_rate": st.floats(-0.5, 1.5, allow_nan=False),
        "turns": st.one_of(st.none(), st.integers(-1, 3)),
        "execution_time": st.one_of(st.none(), st.floats(-1.0, 5.0, allow_nan=False)),
        "test_id": st.sampled_from([GOOD.test_id, "A" * 32, "0" * 31]),
        "completion_tokens": st.one_of(st.none(), st.integers(-1, 2**64)),
        "api_retries": st.integers(-1, 2**40),
    },
)


@settings(max_examples=300, deadline=None)
@given(mutations)
def test_row_and_table_validators_agree(change: dict[str, object]) -> None:
    record = dataclasses.replace(GOOD, **change)
    try:
        validate_record(record)
        row_verdict = None
    except RecordError as error:
        row_verdict = error.field
    try:
        validate_table(records_to_table([record]))
        table_verdict = None
    except RecordError as error:
        table_verdict = error.field
    assert (row_verdict is None) == (table_verdict is None), (row_verdict, table_verdict)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("completion_tokens", 2**63),
        ("completion_tokens", 2**64 + 5),
        ("prompt_tokens", -10_000_000),
        ("turns", 2**31),
        ("seed", -(2**63) - 1),
    ],
)
def test_the_writer_refuses_exactly_the_integers_the_readers_refuse(field: str, value: int) -> None:
    record = dataclasses.replace(GOOD, **{field: value})
    with pytest.raises(RecordError) as refused:
        validate_record(record)
    assert refused.value.field == field
    row = json.loads(encode_records([GOOD]))
    row[field] = value
    with pytest.raises(RecordError):  # what the JSON store's readers do with the line
        validate_table(rows_to_table([row]))


def test_storable_record_nulls_counts_the_store_cannot_hold_and_escapes_lone_surrogates() -> None:
    record = dataclasses.replace(
        GOOD,
        completion_tokens=2**63,
        prompt_tokens=-10_000_000,
        error_message=None,
        executed_tools=("file_" + chr(0xD800) + "reader",),
    )
    stored, warnings = storable_record(record)
    assert (stored.prompt_tokens, stored.completion_tokens) == (None, None)
    assert len(warnings) == 2 and all("stored as null" in w for w in warnings)
    assert stored.executed_tools == ("file_" + chr(92) + "ud800reader",), "shown escaped"
    validate_record(stored)
    assert table_to_records(rows_to_table([json.loads(encode_records([stored]))])) == [stored]
    assert storable_record(GOOD) == (GOOD, ()), "a good record passes untouched"
