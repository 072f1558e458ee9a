"""The statistics behind every rate runbench prints, in closed form and pure Python.

Wilson intervals stay honest at small n and near 0 or 1, where the textbook ± 1.96·√(p(1-p)/n)
interval collapses to zero width. Paired comparisons use the exact McNemar test (a binomial test on
the discordant pairs) and Newcombe's hybrid score interval for a difference of paired proportions
(Newcombe 1998, method 10), which keeps its coverage when discordant pairs are few.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Interval:
    """A two-sided 95 % confidence interval."""

    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """The Wilson score interval for ``successes`` out of ``trials``; (0, 0) for no trials."""
    if trials == 0:
        return Interval(0.0, 0.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - margin)
    high = 1.0 if successes == trials else min(1.0, centre + margin)
    return Interval(low, high)


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts.

    Under the null each discordant pair is equally likely to favour either side, so the count
    favouring A is Binomial(only_a + only_b, ½); the p-value doubles the smaller tail.
    """
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    smaller = min(only_a, only_b)
    tail = sum(math.comb(discordant, k) for k in range(smaller + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def paired_difference_interval(both: int, only_a: int, only_b: int, neither: int) -> Interval:
    """Newcombe's interval for rate(A) − rate(B) over paired tests (method 10).

    Raises:
        ValueError: no pairs at all.
    """
    n = both + only_a + only_b + neither
    if n == 0:
        raise ValueError("no paired tests")
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    a_interval = wilson_interval(both + only_a, n)
    b_interval = wilson_interval(both + only_b, n)
    phi = _phi(both, only_a, only_b, neither)
    delta = p_a - p_b
    down_a, up_a = p_a - a_interval.low, a_interval.high - p_a
    down_b, up_b = p_b - b_interval.low, b_interval.high - p_b
    low = delta - math.sqrt(max(0.0, down_a**2 - 2 * phi * down_a * up_b + up_b**2))
    high = delta + math.sqrt(max(0.0, up_a**2 - 2 * phi * up_a * down_b + down_b**2))
    return Interval(max(-1.0, low), min(1.0, high))


def _phi(both: int, only_a: int, only_b: int, neither: int) -> float:
    """The correlation of the two outcomes; 0 when a margin is empty (Newcombe's convention)."""
    denominator = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if denominator == 0:
        return 0.0
    return (both * neither - only_a * only_b) / math.sqrt(denominator)
