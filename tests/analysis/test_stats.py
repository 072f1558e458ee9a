from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runbench.analysis.stats import mcnemar_exact_p, paired_difference_interval, wilson_interval


def test_wilson_interval_matches_hand_computed_values() -> None:
    # 8 of 10: centre (0.8 + z²/20)/(1 + z²/10), margin z·sqrt(0.016 + z²/400)/(1 + z²/10)
    interval = wilson_interval(8, 10)
    # (the textbook values for 8/10, to four decimals)
    assert interval.low == pytest.approx(0.4902, abs=5e-5)
    assert interval.high == pytest.approx(0.9433, abs=5e-5)


def test_wilson_interval_at_the_edges_is_not_degenerate() -> None:
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(0, 10).high == pytest.approx(0.2775, abs=5e-5)
    assert wilson_interval(10, 10).high == 1.0
    assert wilson_interval(0, 0).width == 0.0


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [(1, 6, 0.125), (0, 5, 0.0625), (3, 3, 1.0), (0, 0, 1.0), (2, 12, 0.0129394531)],
)
def test_mcnemar_exact_p_values_of_known_tables(only_a: int, only_b: int, expected: float) -> None:
    assert mcnemar_exact_p(only_a, only_b) == pytest.approx(expected, abs=1e-9)


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_paired_interval_contains_the_difference_and_flips_with_the_sides(
    both: int, only_a: int, only_b: int, neither: int
) -> None:
    if both + only_a + only_b + neither == 0:
        return
    n = both + only_a + only_b + neither
    interval = paired_difference_interval(both, only_a, only_b, neither)
    difference = (only_a - only_b) / n
    assert -1.0 <= interval.low <= difference + 1e-12
    assert difference - 1e-12 <= interval.high <= 1.0
    swapped = paired_difference_interval(both, only_b, only_a, neither)
    assert swapped.low == pytest.approx(-interval.high)
    assert swapped.high == pytest.approx(-interval.low)
