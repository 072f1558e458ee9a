"""The JSONL reader: the fast (Arrow) and the strict (line by line) paths accept the same lines."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbench.records import FIELD_NAMES, encode_records
from runbench.storage.base import Damage
from runbench.storage.jsonl import _parse_lines, clean_line_count, parse_chunk
from runbench.storage.since import file_since
from runbench.synthetic import synthetic_records

_LINES = [encode_records([record]) for record in synthetic_records(12, seed=11)]


def _mutated(line: bytes, at: int, new: bytes, cut: bool) -> bytes:
    at %= len(line) - 1
    body = line[:at] + new + line[at + (1 if cut else 0) : -1]
    return body.replace(b"\n", b"") + b"\n"


_LINE = st.one_of(
    st.sampled_from(_LINES),
    st.builds(
        _mutated,
        st.sampled_from(_LINES),
        st.integers(min_value=0, max_value=10_000),
        st.binary(min_size=0, max_size=4),
        st.booleans(),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=8))
def test_fast_and_strict_paths_accept_exactly_the_same_lines(lines: list[bytes]) -> None:
    data = b"".join(lines)
    fast_damage: list[Damage] = []
    strict_damage: list[Damage] = []
    fast = parse_chunk(data, Path("x.jsonl"), 1, fast_damage)
    strict, _ = _parse_lines(data, Path("x.jsonl"), 1, strict_damage)
    assert fast.to_pylist() == strict.to_pylist()
    assert [(d.kind, d.line) for d in fast_damage] == [(d.kind, d.line) for d in strict_damage]
    fast.validate(full=True)


def _looked_clean_before(data: bytes, lines: int) -> bool:
    """The pre-check as it was written first (substring counts and a regular expression)."""
    if not data.startswith(b"{") or data.count(b"}\n") != lines:
        return False
    if data.count(b"\n{") != lines - 1 or re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", data):
        return False
    if b"\\ud" in data or b"\\uD" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=8))
def test_the_vectorised_pre_check_decides_as_the_first_one(lines: list[bytes]) -> None:
    data = b"".join(lines)
    count = data.count(b"\n")
    expected = count if _looked_clean_before(data, count) else None
    assert clean_line_count(data) == expected
    buffer = bytearray(data + b'{"x":1}\n\x01')  # a read buffer, its last bytes not read yet
    assert clean_line_count(buffer, len(data)) == expected


def test_the_pre_check_refuses_each_kind_of_damage() -> None:
    clean = b"".join(_LINES)
    count = clean.count(b"\n")
    assert clean_line_count(clean) == count
    second = len(_LINES[0])
    for damaged in (
        clean[:second] + b"\x01" + clean[second + 1 :],  # a control byte replaces "{"
        clean[:second] + b" " + clean[second:],  # a line that starts with a blank
        clean[: second - 2] + b"\x7f" + clean[second - 2 :],  # DEL inside a line
        clean[: second - 2] + b"\t" + clean[second - 2 :],  # a raw tab inside a line
        clean[:second] + b"\xff" + clean[second + 1 :],  # not UTF-8
        clean[:10] + b"\xc0\x80" + clean[10:],  # an overlong NUL
        clean[:10] + b"\xed\xa0\x80" + clean[10:],  # a surrogate encoded in UTF-8
        clean[:10] + b"\xf4\x90\x80\x80" + clean[10:],  # past U+10FFFF
        clean[: second - 2] + b"\xe2\x82" + clean[second - 2 :],  # a sequence cut short
        clean[:10] + b"\\ud800" + clean[10:],  # an escaped lone surrogate
        clean[:10] + b"\\uDFFF" + clean[10:],  # the same in capitals
        clean[:-1],  # no newline at the end
        b"",
    ):
        assert clean_line_count(damaged) is None


def test_a_read_parsed_on_threads_names_each_damaged_line_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks parsed at once still name every bad line once, with its own line number.

    The real JSON store is read through ``verify`` and ``scan``, with chunks of a few lines so
    that the damage falls in several chunks parsed on the reader's threads.
    """
    from runbench.storage import jsonl
    from runbench.storage.json_store import JsonStore

    monkeypatch.setattr(jsonl, "CHUNK_BYTES", 4 * len(_LINES[0]))
    monkeypatch.setattr(jsonl, "PARSE_THREADS", 3)
    records = list(synthetic_records(120, seed=5))
    store = JsonStore(tmp_path)
    store.append(records)
    lines = store.records_path.read_bytes().split(b"\n")[:-1]
    bad = {3: b"{not json", 40: b"\xff" + lines[40][1:], 41: lines[41].replace(b'"', b"'", 1)}
    bad[97] = lines[97].replace(b'"attempt":1,', b'"attempt":-4,')
    for number, text in bad.items():
        lines[number - 1] = text
    store.records_path.write_bytes(b"".join(line + b"\n" for line in lines))

    report = store.verify()
    assert [(item.kind, item.line) for item in report.damage] == [
        ("corrupt_line", 3),
        ("corrupt_line", 40),
        ("corrupt_line", 41),
        ("invalid_record", 97),
    ]
    read = store.scan(["test_id"]).column("test_id").to_pylist()
    kept = [record.test_id for number, record in enumerate(records, 1) if number not in bad]
    assert read == kept
    assert report.rows == len(kept)
    since_damage: list[Damage] = []  # the rows since a position (the viewer, claims) alike
    since = file_since(store.records_path, None, ["test_id"], since_damage)
    assert [t for table in since for t in table.column("test_id").to_pylist()] == kept
    assert [(item.kind, item.line) for item in since_damage] == [
        (item.kind, item.line) for item in report.damage
    ]


def test_a_chunk_with_both_kinds_of_damage_names_them_in_line_order() -> None:
    """``verify`` lists damage as the file has it: an invalid record before a corrupt line in
    one chunk was listed after it (the strict path found the two kinds in two passes)."""
    lines = list(_LINES[:5])
    lines[1] = lines[1].replace(b'"attempt":1,', b'"attempt":-4,')
    lines[3] = b"{not json\n"
    damage: list[Damage] = []
    table = parse_chunk(b"".join(lines), Path("x.jsonl"), 1, damage)
    assert table.num_rows == 3
    assert [(item.kind, item.line) for item in damage] == [
        ("invalid_record", 2),
        ("corrupt_line", 4),
    ]


def test_a_wrong_type_or_unknown_field_in_a_clean_chunk_is_named_as_on_the_strict_path() -> None:
    """Lines that pass the byte checks but break the schema go to the strict path, named there."""
    lines = list(_LINES[:6])
    lines[2] = lines[2].replace(b'"attempt":1,', b'"attempt":"1",')
    lines[4] = lines[4].replace(b'"suite":"workflow",', b'"suite":"workflow","colour":"red",')
    data = b"".join(lines)
    assert clean_line_count(data) == 6  # the bytes look clean: Arrow's typed parse refuses them
    damage: list[Damage] = []
    table = parse_chunk(data, Path("x.jsonl"), 10, damage)
    assert table.num_rows == 4
    assert [(item.kind, item.line, item.detail) for item in damage] == [
        ("invalid_record", 12, "record field 'attempt' must be an integer, got str (row 0)"),
        ("invalid_record", 14, "record field 'colour' is not a record field (row 0)"),
    ]


@pytest.mark.parametrize("threads", [1, 3])
def test_reused_read_buffers_never_change_rows_already_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Chunks are read into a few buffers in turn; every table read stays as it was parsed.

    Chunks of about two lines, so each buffer is reused many times, on one thread and on
    several; one record longer than a chunk makes a buffer grow; a damaged line late in the
    file is still named with its own number.
    """
    from runbench.storage import jsonl
    from runbench.storage.json_store import JsonStore

    monkeypatch.setattr(jsonl, "CHUNK_BYTES", 2 * len(_LINES[0]))
    monkeypatch.setattr(jsonl, "PARSE_THREADS", threads)
    records = list(synthetic_records(60, seed=9))
    records[30] = dataclasses.replace(records[30], error_message="long " * 2_000)
    store = JsonStore(tmp_path)
    store.append(records)
    with store.records_path.open("ab") as handle:
        handle.write(b"{torn")
    lines = store.records_path.read_bytes().split(b"\n")
    lines[51] = lines[51].replace(b'"attempt":1,', b'"attempt":-4,')
    store.records_path.write_bytes(b"\n".join(lines))

    tables = list(store.scan_batches())
    assert len(tables) > 10
    read = [row for table in tables for row in table.to_pylist()]
    expected = [
        {name: getattr(record, name) for name in FIELD_NAMES}
        for number, record in enumerate(records, 1)
        if number != 52
    ]
    assert [row["test_id"] for row in read] == [row["test_id"] for row in expected]
    assert [row["error_message"] for row in read] == [row["error_message"] for row in expected]
    report = store.verify()
    assert [(item.kind, item.line) for item in report.damage] == [
        ("invalid_record", 52),
        ("torn_line", 61),
    ]
    assert report.rows == 59
