"""The JSONL reader: the fast (Arrow) and the strict (line by line) paths accept the same lines."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbench.records import encode_records
from runbench.storage.base import Damage
from runbench.storage.jsonl import _parse_lines, parse_chunk
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
    strict = _parse_lines(data, Path("x.jsonl"), 1, strict_damage)
    assert fast.to_pylist() == strict.to_pylist()
    assert [(d.kind, d.line) for d in fast_damage] == [(d.kind, d.line) for d in strict_damage]
    fast.validate(full=True)
