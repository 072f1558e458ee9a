"""The result record: one row per test attempt, defined once.

The ``Record`` dataclass below is the single definition of DESIGN.md §3. Each field carries its
storage kind, its meaning and its allowed values in ``metadata``; the Arrow schema, the JSON codec
and validation are all derived from it, so the JSONL and Parquet stores cannot drift apart.

Validation is column-wise over an Arrow table (``validate_table``): a batch from a runner and a
million rows from a migration pass through the same rules, and an error names the field and the
first offending row.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

from runbench.errors import RecordError

if TYPE_CHECKING:
    import pyarrow as pa

Kind = Literal["string", "int32", "int64", "float64", "bool", "timestamp", "list<string>"]

# the status of a row whose test the infrastructure failed: never a model result, not "done"
ERROR_STATUS = "error"
STATUSES = ("full_success", "partial_success", "failure", ERROR_STATUS)
SUCCESS_STATUSES = ("full_success", "partial_success")
DIFFICULTIES = ("very_easy", "easy", "medium", "hard", "very_hard")
TASK_TYPES = (
    "simple_task",
    "basic_task",
    "data_pipeline",
    "api_integration",
    "multi_stage_pipeline",
)
FLAWS = (
    "sequence_disorder",
    "tool_misuse",
    "parameter_error",
    "missing_step",
    "redundant_operations",
    "logical_inconsistency",
    "semantic_drift",
)
PLAIN_PROMPT_TYPES = ("baseline", "optimal", "cot")
# the workflow suite's rules (tool outcomes, flaws, levels, scores: docs/SCORING.md); part of every
# test id through the suite version, so rows scored by other rules never count as these tests.
# 1: runbench's first rules; 2: WorkflowBench's formulas; 3: one registry object carries its
# dependency rule (built-in runs read dependencies as alternatives, as the tests always did) and
# WorkflowBench files run WorkflowBench's executor (parser, prompts, search, tool outcomes).
# Defined here so core and workload share it.
WORKFLOW_RULES_VERSION = "3"
PROMPT_TYPES = PLAIN_PROMPT_TYPES + tuple(f"flawed_{flaw}" for flaw in FLAWS)
MODEL_ERROR_CATEGORIES = (
    "tool_call_format_errors",
    "timeout_errors",
    "max_turns_errors",
    "tool_selection_errors",
    "parameter_config_errors",
    "sequence_order_errors",
    "dependency_errors",
    "other_errors",
)
INFRA_ERROR_CATEGORIES = (
    "api_error",
    "rate_limited",
    "test_timeout",
    "crash",
    "invalid_request",  # a 400 the same request always gets: not re-run on resume by default
)
ERROR_CATEGORIES = MODEL_ERROR_CATEGORIES + INFRA_ERROR_CATEGORIES
TEST_ID_PATTERN = r"^[0-9a-f]{32}$"
PROTOCOLS = ("tags", "native")
# columns added after stores were first written: a Parquet part without them is read with nulls
# fields added after the first release: parts written before them lack them and read as null
ADDED_FIELDS = (
    "similarity_source",
    "protocol",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "error_classifier",
)
KEY_FIELDS = ("test_id", "attempt", "run_id")


FLAWED_PREFIX = "flawed_"


def flaw_of(prompt_type: str) -> str | None:
    """The flaw a prompt type carries (``flawed_missing_step`` → ``missing_step``), else None.

    The one rule for the ``flaw_type`` column, used wherever a record is built or checked.
    """
    return (
        prompt_type.removeprefix(FLAWED_PREFIX) if prompt_type.startswith(FLAWED_PREFIX) else None
    )


def is_success(status: str) -> bool:
    """The legacy ``success`` column: full or partial success."""
    return status in SUCCESS_STATUSES


def _spec(
    kind: Kind,
    meaning: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    default: Any = dataclasses.MISSING,
) -> Any:
    metadata = {
        "kind": kind,
        "meaning": meaning,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "pattern": pattern,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One attempt at one planned test. Facts only: every aggregate is computed from rows."""

    test_id: str = _spec(
        "string", "content-addressed id of the planned test", pattern=TEST_ID_PATTERN
    )
    attempt: int = _spec("int32", "1, then +1 for each later run of the same test_id", minimum=1)
    run_id: str = _spec("string", "uuid4 of the invocation that produced the row")
    recorded_at: datetime = _spec("timestamp", "when the row was produced (UTC, microseconds)")  # noqa: RUF009 - _spec returns a dataclasses.field
    suite: str = _spec("string", "benchmark suite, e.g. workflow or legacy-v3")
    suite_version: str = _spec("string", "version of the suite's task library")
    model: str = _spec("string", "canonical logical model name: the statistics key")
    deployment: str = _spec("string", "endpoint alias actually called (never a key)")
    provider: str = _spec("string", "provider name from the configuration")
    prompt_type: str = _spec(
        "string", "baseline, optimal, cot or flawed_<flaw>", choices=PROMPT_TYPES
    )
    flaw_type: str | None = _spec(
        "string", "the flaw without prefix; null when not flawed", choices=FLAWS, default=None
    )
    difficulty: str = _spec("string", "task difficulty", choices=DIFFICULTIES)
    task_type: str = _spec("string", "task type", choices=TASK_TYPES)
    task_id: str = _spec("string", "id of the task the instance mapped to")
    instance: int = _spec("int32", "index of the test within its cell", minimum=0)
    tool_success_rate: float = _spec(
        "float64", "planned tool success rate, two decimals", minimum=0.0, maximum=1.0
    )
    status: str = _spec(
        "string", "outcome; error means the infrastructure failed", choices=STATUSES
    )
    success: bool = _spec("bool", "status is full or partial success (the legacy meaning)")
    workflow_score: float | None = _spec(
        "float64", "adherence to the correct workflow", default=None
    )
    phase2_score: float | None = _spec(
        "float64", "task achievement and execution quality", default=None
    )
    quality_score: float | None = _spec("float64", "quality of the execution", default=None)
    final_score: float | None = _spec("float64", "the combined score", default=None)
    turns: int | None = _spec(
        "int32", "conversation turns used; null if unknown", minimum=0, default=0
    )
    tool_calls: int | None = _spec(
        "int32", "tool calls made; null if unknown", minimum=0, default=0
    )
    format_error_count: int | None = _spec(
        "int32", "replies with no parseable action; null if unknown", minimum=0, default=0
    )
    api_retries: int | None = _spec(
        "int32", "API retries spent on this test; null if unknown", minimum=0, default=0
    )
    required_tools: tuple[str, ...] = _spec("list<string>", "tools the task requires", default=())
    executed_tools: tuple[str, ...] = _spec("list<string>", "tools the model called", default=())
    tool_coverage_rate: float | None = _spec(
        "float64", "share of required tools called", minimum=0.0, maximum=1.0, default=None
    )
    error_category: str | None = _spec(
        "string", "model-side or infrastructure category", choices=ERROR_CATEGORIES, default=None
    )
    error_message: str | None = _spec("string", "redacted, short", default=None)
    execution_time: float | None = _spec(
        "float64", "wall clock seconds; null if unknown", minimum=0.0, default=None
    )
    prompt_tokens: int | None = _spec("int64", "prompt tokens used", minimum=0, default=None)
    completion_tokens: int | None = _spec(
        "int64", "completion tokens used", minimum=0, default=None
    )
    transcript: str | None = _spec("string", "relative path of the saved transcript", default=None)
    similarity_source: str | None = _spec(
        "string",
        "tool matching of the scores: embeddings:<model> or fallback:trigram; null if unscored",
        default=None,
    )
    # generation settings (part of the test id when not at their defaults); null when unknown:
    # rows written before these columns existed and legacy imports
    protocol: str | None = _spec(
        "string", "how tool calls were exchanged: tags or native", choices=PROTOCOLS, default=None
    )
    temperature: float | None = _spec(
        "float64", "sampling temperature sent; null if the provider's default", minimum=0.0,
        default=None,
    )  # fmt: skip
    top_p: float | None = _spec(
        "float64", "nucleus sampling share sent; null if the provider's default", minimum=0.0,
        maximum=1.0, default=None,
    )  # fmt: skip
    max_tokens: int | None = _spec(
        "int64", "completion token limit sent; null if none", minimum=1, default=None
    )
    seed: int | None = _spec("int64", "sampling seed sent; null if none", default=None)
    # which classifier named error_category of a partial or failed test; null for full successes,
    # infrastructure errors and rows written before the column existed
    error_classifier: str | None = _spec(
        "string", "who chose error_category: rules or ai:<model>; null if none", default=None
    )


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column of the record, as read off ``Record``."""

    name: str
    kind: Kind
    nullable: bool
    meaning: str
    choices: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None
    pattern: str | None


def _is_optional(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType) and NoneType in get_args(annotation)


def _read_specs() -> tuple[FieldSpec, ...]:
    hints = get_type_hints(Record)
    return tuple(
        FieldSpec(
            name=f.name,
            kind=f.metadata["kind"],
            nullable=_is_optional(hints[f.name]),
            meaning=f.metadata["meaning"],
            choices=f.metadata["choices"],
            minimum=f.metadata["minimum"],
            maximum=f.metadata["maximum"],
            pattern=f.metadata["pattern"],
        )
        for f in dataclasses.fields(Record)
    )


FIELDS: tuple[FieldSpec, ...] = _read_specs()
FIELD_NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
_SPEC_BY_NAME = {spec.name: spec for spec in FIELDS}


def _arrow_type(kind: Kind) -> pa.DataType:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list<string>": pa.list_(pa.string()),
    }[kind]


@functools.cache
def arrow_schema() -> pa.Schema:
    """The Arrow schema of a record; built on first use so the CLI starts without pyarrow."""
    import pyarrow as pa

    return pa.schema(
        [pa.field(spec.name, _arrow_type(spec.kind), nullable=spec.nullable) for spec in FIELDS]
    )


def is_readable_schema(schema: pa.Schema) -> bool:
    """The record schema, or it without some of ``ADDED_FIELDS`` (a part written before them)."""
    current = arrow_schema()
    if schema.equals(current):
        return True
    expected = [field for field in current if field.name in schema.names]
    missing = {field.name for field in current} - set(schema.names)
    return missing <= set(ADDED_FIELDS) and list(schema) == expected


def upgrade_table(table: pa.Table, names: Sequence[str] | None = None) -> pa.Table:
    """The columns ``names`` (default: every field) of a table, null where an added field is absent.

    Parts written before ``ADDED_FIELDS`` existed lack those columns; their rows read as not
    knowing the values (null), which is the truth.

    Raises:
        RecordError: a column that is not an added field is missing.
    """
    import pyarrow as pa

    wanted = list(FIELD_NAMES) if names is None else list(names)
    if all(name in table.column_names for name in wanted):
        return table.select(wanted)
    schema = arrow_schema()
    columns = []
    for name in wanted:
        if name in table.column_names:
            columns.append(table.column(name))
        elif name in ADDED_FIELDS:
            columns.append(pa.nulls(table.num_rows, type=schema.field(name).type))
        else:
            raise RecordError(name, "is missing")
    target = pa.schema([schema.field(name) for name in wanted])
    return pa.table(columns, names=wanted).cast(target)


# ---------------------------------------------------------------------------------------------
# Building tables


def records_to_table(records: Sequence[Record]) -> pa.Table:
    """Turn records into a table with the record schema, naming the field of any wrong type.

    Raises:
        RecordError: a value cannot be stored in its column.
    """
    import pyarrow as pa

    columns = []
    for spec, arrow_field in zip(FIELDS, arrow_schema(), strict=True):
        values = [getattr(record, spec.name) for record in records]
        columns.append(_column(spec, values, arrow_field.type))
    return pa.Table.from_arrays(columns, schema=arrow_schema())


def rows_to_table(rows: Sequence[Mapping[str, Any]], *, first_row: int = 0) -> pa.Table:
    """Turn decoded JSON rows into a table, refusing unknown and missing required fields.

    Raises:
        RecordError: a row has an unknown field, lacks a required one, or a value has the
            wrong type; the message names the field.
    """
    import pyarrow as pa

    for offset, row in enumerate(rows):
        unknown = row.keys() - _SPEC_BY_NAME.keys()
        if unknown:
            raise RecordError(
                sorted(unknown)[0], "is not a record field", where=f"row {first_row + offset}"
            )
    columns = []
    for spec, arrow_field in zip(FIELDS, arrow_schema(), strict=True):
        values = [row.get(spec.name) for row in rows]
        if spec.kind == "timestamp":
            values = [_parse_timestamp(spec.name, value) for value in values]
        columns.append(_column(spec, values, arrow_field.type, first_row=first_row))
    return pa.Table.from_arrays(columns, schema=arrow_schema())


def _parse_timestamp(name: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(name, f"is not an ISO 8601 timestamp: {value[:40]!r}") from None
    return value


def _column(
    spec: FieldSpec, values: list[Any], arrow_type: pa.DataType, *, first_row: int = 0
) -> pa.Array:
    import pyarrow as pa

    for offset, value in enumerate(values):
        problem = _python_type_problem(spec, value)
        if problem:
            raise RecordError(spec.name, problem, where=f"row {first_row + offset}")
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeError) as error:
        # UnicodeError: a lone surrogate (e.g. a JSON "\\ud800" escape) is no storable text
        raise RecordError(spec.name, f"cannot be stored as {spec.kind}: {error}") from None


def _python_type_problem(spec: FieldSpec, value: Any) -> str | None:
    """Catch what Arrow would silently coerce (bool as int, naive datetimes, str as list)."""
    if value is None:
        return None
    kind = spec.kind
    if kind in ("int32", "int64") and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be an integer, got {type(value).__name__}"
    if kind == "float64" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"must be a number, got {type(value).__name__}"
    if kind == "bool" and not isinstance(value, bool):
        return f"must be true or false, got {type(value).__name__}"
    if kind == "string" and not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if kind == "list<string>" and (
        not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value)
    ):
        return "must be a list of strings"
    if kind == "timestamp" and (not isinstance(value, datetime) or value.tzinfo is None):
        return "must be a timezone-aware datetime"
    return None


# ---------------------------------------------------------------------------------------------
# Validation


def validate_table(table: pa.Table) -> None:
    """Check every rule of the record schema on a whole table at once.

    Raises:
        RecordError: the first violated rule, naming the field and the first offending row.
    """
    import pyarrow.compute as pc

    if table.schema.names != list(FIELD_NAMES):
        missing = [name for name in FIELD_NAMES if name not in table.schema.names]
        extra = [name for name in table.schema.names if name not in FIELD_NAMES]
        name = (missing or extra or ["<order>"])[0]
        raise RecordError(name, "is missing" if missing else "is not a record field")
    if table.num_rows == 0:
        return
    for spec in FIELDS:
        column = table.column(spec.name)
        if not column.type.equals(_arrow_type(spec.kind)):
            raise RecordError(spec.name, f"has type {column.type}, expected {spec.kind}")
        if not spec.nullable and column.null_count:
            _fail(spec.name, "is missing (null)", pc.is_null(column))
        if spec.choices is not None:
            bad = pc.invert(pc.is_in(column, value_set=_choices_array(spec.choices)))
            bad = pc.and_kleene(bad, pc.is_valid(column))
            _fail_if_any(spec.name, bad, column, f"must be one of {', '.join(spec.choices)}")
        if spec.minimum is not None:
            _fail_if_any(
                spec.name, pc.less(column, spec.minimum), column, f"must be ≥ {spec.minimum}"
            )
        if spec.maximum is not None:
            _fail_if_any(
                spec.name, pc.greater(column, spec.maximum), column, f"must be ≤ {spec.maximum}"
            )
        if spec.pattern is not None:
            bad = pc.invert(pc.match_substring_regex(column, spec.pattern))
            _fail_if_any(spec.name, bad, column, f"must match {spec.pattern}")
    _validate_cross_field_rules(table)


def validate_record(record: Record, *, where: str | None = None) -> None:
    """Check every rule of the record schema on one record, in pure Python.

    The append path of a runner stores one record per finished test; building an Arrow table for
    each would cost a millisecond. The rules are the declared ones of ``FIELDS`` and the same
    cross-field rules as ``validate_table``; a property test keeps the two validators in step.

    Raises:
        RecordError: the first violated rule, naming the field.
    """
    for spec, exact_types, choices, pattern in _ROW_CHECKS:
        value = getattr(record, spec.name)
        if value is None:
            if not spec.nullable:
                raise RecordError(spec.name, "is missing (null)", where=where)
            continue
        problem = None
        if type(value) not in exact_types or spec.kind in ("list<string>", "timestamp"):
            problem = _python_type_problem(spec, value)  # the slow, exact check, rarely needed
        if problem is None and choices is not None and value not in choices:
            problem = f"must be one of {', '.join(spec.choices or ())}"
        if problem is None and spec.minimum is not None and value < spec.minimum:
            problem = f"must be ≥ {spec.minimum}"
        if problem is None and spec.maximum is not None and value > spec.maximum:
            problem = f"must be ≤ {spec.maximum}"
        if problem is None and pattern is not None and not pattern.search(value):
            problem = f"must match {spec.pattern}"
        if problem is not None:
            raise RecordError(spec.name, f"{problem}, got {str(value)[:60]!r}", where=where)
    if record.success != is_success(record.status):
        raise RecordError(
            "success",
            "must be true exactly when status is full_success or partial_success",
            where=where,
        )
    if record.flaw_type != flaw_of(record.prompt_type):
        raise RecordError(
            "flaw_type",
            "must be the prompt type without 'flawed_' for flawed prompts, and null otherwise",
            where=where,
        )
    if (record.status == ERROR_STATUS) != (record.error_category in INFRA_ERROR_CATEGORIES):
        raise RecordError(
            "error_category",
            "must be an infrastructure category exactly when status is error",
            where=where,
        )


_EXACT_TYPES: dict[Kind, tuple[type, ...]] = {
    "string": (str,),
    "int32": (int,),
    "int64": (int,),
    "float64": (float, int),
    "bool": (bool,),
    "timestamp": (datetime,),
    "list<string>": (tuple, list),
}
_ROW_CHECKS = tuple(
    (
        spec,
        _EXACT_TYPES[spec.kind],
        frozenset(spec.choices) if spec.choices is not None else None,
        re.compile(spec.pattern) if spec.pattern is not None else None,
    )
    for spec in FIELDS
)


def _validate_cross_field_rules(table: pa.Table) -> None:
    import pyarrow.compute as pc

    status = table.column("status")
    expected_success = pc.is_in(status, value_set=_choices_array(SUCCESS_STATUSES))
    _fail_if_any(
        "success",
        pc.not_equal(table.column("success"), expected_success),
        status,
        "must be true exactly when status is full_success or partial_success",
    )
    prompt_type = table.column("prompt_type")
    flaw_type = table.column("flaw_type")
    is_flawed = pc.starts_with(prompt_type, FLAWED_PREFIX)
    implied_flaw = pc.if_else(
        is_flawed, pc.utf8_slice_codeunits(prompt_type, len(FLAWED_PREFIX)), None
    )
    mismatch = pc.invert(pc.fill_null(pc.equal(flaw_type, implied_flaw), False))
    both_null = pc.and_(pc.is_null(flaw_type), pc.is_null(implied_flaw))
    _fail_if_any(
        "flaw_type",
        pc.and_(mismatch, pc.invert(both_null)),
        prompt_type,
        "must be the prompt type without 'flawed_' for flawed prompts, and null otherwise",
    )
    is_error = pc.equal(status, ERROR_STATUS)
    is_infra = pc.fill_null(
        pc.is_in(table.column("error_category"), value_set=_choices_array(INFRA_ERROR_CATEGORIES)),
        False,
    )
    _fail_if_any(
        "error_category",
        pc.not_equal(is_error, is_infra),
        status,
        "must be an infrastructure category exactly when status is error",
    )


@functools.cache
def _choices_array(choices: tuple[str, ...]) -> pa.Array:
    import pyarrow as pa

    return pa.array(choices, type=pa.string())


def _fail_if_any(name: str, bad: Any, column: Any, problem: str) -> None:
    import pyarrow.compute as pc

    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        _fail(name, problem, bad, column)


def _fail(name: str, problem: str, bad: Any, column: Any = None) -> None:
    import pyarrow.compute as pc

    row = pc.index(pc.fill_null(bad, False), True).as_py()
    shown = ""
    if column is not None and row >= 0:
        value = column[row].as_py()
        shown = f", got {str(value)[:60]!r}"
    raise RecordError(name, problem + shown, where=f"row {row}")


# ---------------------------------------------------------------------------------------------
# JSON codec


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_rows(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Encode rows as JSON lines in field order: the JSONL format of both stores."""
    dumps = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode
    return "".join(f"{dumps(row)}\n" for row in rows).encode("utf-8")


def encode_records(records: Iterable[Record]) -> bytes:
    """Encode records as JSON lines (see ``encode_rows``)."""
    return encode_rows({name: getattr(record, name) for name in FIELD_NAMES} for record in records)


def table_to_records(table: pa.Table) -> list[Record]:
    """Turn a table with the record schema back into ``Record`` values."""
    return [row_to_record(row) for row in table.to_pylist()]


def row_to_record(row: Mapping[str, Any]) -> Record:
    """Build a ``Record`` from a row as Arrow's ``to_pylist`` returns it."""
    values = dict(row)
    for list_field in ("required_tools", "executed_tools"):
        values[list_field] = tuple(values[list_field] or ())
    stamp = values["recorded_at"]
    if isinstance(stamp, datetime):
        values["recorded_at"] = stamp.astimezone(UTC)
    return Record(**values)


def validated_lines(records: Sequence[Record]) -> bytes:
    """Validate every record, then encode them as JSON lines: all or nothing.

    Raises:
        RecordError: a record violates the schema (naming the field and the record's index).
    """
    for index, record in enumerate(records):
        validate_record(record, where=f"record {index}")
    try:
        return encode_records(records)
    except UnicodeEncodeError:
        raise _unencodable(records) from None


def _unencodable(records: Sequence[Record]) -> RecordError:
    """Name the field holding text that UTF-8 cannot store (a lone surrogate such as U+D800)."""
    for index, record in enumerate(records):
        for spec in FIELDS:
            value = getattr(record, spec.name)
            texts = value if isinstance(value, tuple | list) else (value,)
            for text in texts:
                if isinstance(text, str):
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:
                        return RecordError(
                            spec.name, "holds text UTF-8 cannot store", where=f"record {index}"
                        )
    return RecordError("<record>", "holds text UTF-8 cannot store")


def conformed_table(table: pa.Table) -> pa.Table:
    """The table in schema order and types, validated (the bulk append path).

    Arrow's full validation comes first: strings must be valid UTF-8, or a store would hold text
    that every later reader fails to decode.

    Raises:
        RecordError: a rule is violated, or the data is not valid Arrow (e.g. bad UTF-8).
    """
    import pyarrow as pa

    table = table.select(arrow_schema().names).cast(arrow_schema())
    try:
        table.validate(full=True)
    except pa.ArrowInvalid as error:
        raise RecordError("<table>", f"is not valid Arrow data: {error}") from None
    validate_table(table)
    return table
