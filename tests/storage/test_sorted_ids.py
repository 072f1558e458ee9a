"""``SortedIds`` finds exactly the ids a dict would, on its fast path and on its fallbacks."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from runbench.storage.sorted_ids import SortedIds

HEX = st.text("0123456789abcdef", min_size=32, max_size=32)


def _answers(ids: list[str], asked: list[str]) -> list[int]:
    found = SortedIds(pa.array(sorted(ids), pa.string()))
    return [found.find(key) for key in asked]


def _expected(ids: list[str], asked: list[str]) -> list[int]:
    where = {key: at for at, key in enumerate(sorted(ids))}
    return [where.get(key, -1) for key in asked]


@given(st.sets(HEX, max_size=60), st.lists(HEX, max_size=20))
def test_test_ids_are_found_by_binary_search_exactly_as_a_dict_finds_them(
    ids: set[str], others: list[str]
) -> None:
    asked = [*ids, *others, "", "a" * 31, "a" * 33, "é" * 16, "a" * 31 + "\0"]
    assert _answers(list(ids), asked) == _expected(list(ids), asked)


@given(st.sets(st.text(max_size=6), max_size=40), st.lists(st.text(max_size=6), max_size=20))
def test_ids_of_any_length_or_content_fall_back_and_stay_right(
    ids: set[str], others: list[str]
) -> None:
    asked = [*ids, *others]
    assert _answers(list(ids), asked) == _expected(list(ids), asked)


def test_the_fast_path_is_taken_for_test_ids_and_not_for_what_it_cannot_search() -> None:
    test_ids = sorted(f"{n:032x}" for n in range(1000))
    assert SortedIds(pa.array(test_ids))._index is None, "a zero-copy view, no dict"
    for column in (
        ["b" * 32, "a" * 32],  # not sorted
        ["a" * 32, "a" * 32],  # an id twice
        ["a" * 31 + "\0", "b" * 32],  # a NUL byte
        ["a" * 32, "b" * 31],  # two lengths
    ):
        assert SortedIds(pa.array(column))._index is not None, column


def test_a_sliced_or_chunked_column_is_read_from_its_own_offset() -> None:
    ids = sorted(f"{n:032x}" for n in range(100))
    sliced = pa.array(ids).slice(10, 50)
    assert [SortedIds(sliced).find(key) for key in ids[5:15]] == [-1] * 5 + list(range(5))
    chunked = pa.chunked_array([pa.array(ids[:40]), pa.array(ids[40:])])
    assert SortedIds(chunked).find(ids[70]) == 70
    assert SortedIds(pa.array([], pa.string())).find(ids[0]) == -1
