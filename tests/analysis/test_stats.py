from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
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


def _mcnemar_big_integers(only_a: int, only_b: int) -> float:
    """The p-value as exact big integers, as ``mcnemar_exact_p`` computed it before log space.

    The binomial coefficients are walked down from C(n, smaller) by their exact integer ratio,
    which gives the same sum as ``sum(math.comb(n, k) for k in range(smaller + 1))`` (checked
    below) in a fraction of its time; the one division rounds it correctly to a float.
    """
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    smaller = min(only_a, only_b)
    coefficient = math.comb(discordant, smaller)
    total = 0
    for k in range(smaller, -1, -1):
        total += coefficient
        if k:
            coefficient = coefficient * k // (discordant - k + 1)
    return min(1.0, 2 * (total / 2**discordant))


def _agrees(p_value: float, reference: float) -> bool:
    """Within 1e-9 relative; below the normal floats (2.2e-308) a float has fewer digits."""
    return math.isclose(p_value, reference, rel_tol=1e-9, abs_tol=1e-320)


def test_the_reference_is_todays_big_integer_sum() -> None:
    for only_a in range(0, 41, 3):
        for only_b in range(0, 41, 4):
            n, smaller = only_a + only_b, min(only_a, only_b)
            today = min(1.0, 2 * (sum(math.comb(n, k) for k in range(smaller + 1)) / 2**n))
            assert _mcnemar_big_integers(only_a, only_b) == (today if n else 1.0)


def test_mcnemar_log_space_equals_big_integers_on_every_small_table() -> None:
    for only_a in range(0, 80):
        for only_b in range(0, 80):
            reference = _mcnemar_big_integers(only_a, only_b)
            assert _agrees(mcnemar_exact_p(only_a, only_b), reference), (only_a, only_b)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20_000), st.floats(0.0, 1.0))
def test_mcnemar_log_space_equals_big_integers_on_random_tables(n: int, spread: float) -> None:
    # ``smaller`` from far in the tail (p underflows to 0) up to the middle (p = 1)
    smaller = max(0, round(n / 2 - spread * 6 * math.sqrt(n) - (spread > 0.9) * n / 4))
    smaller = min(smaller, n // 2)
    assert _agrees(
        mcnemar_exact_p(smaller, n - smaller), _mcnemar_big_integers(smaller, n - smaller)
    )


@pytest.mark.parametrize(
    ("only_a", "only_b"),
    [(17_000, 18_000), (35_500, 34_200), (29_000, 31_000), (24_000, 1), (0, 60_000), (3, 3)],
)
def test_mcnemar_log_space_equals_big_integers_on_large_tables(only_a: int, only_b: int) -> None:
    p_value = mcnemar_exact_p(only_a, only_b)
    assert _agrees(p_value, _mcnemar_big_integers(only_a, only_b))
    assert mcnemar_exact_p(only_b, only_a) == p_value


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
