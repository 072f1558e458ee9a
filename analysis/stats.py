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

    The tail is summed in log space, not as exact big integers: those cost about n^2.6 in the
    discordant pairs (minutes at a million rows), this costs the terms that still matter. The
    largest term, P(X = smaller), comes from Loader's saddle-point form (``_log_binomial_half``),
    accurate to a few ulps where a difference of ``lgamma`` values would lose digits to
    cancellation; the smaller terms follow from it by their exact ratio k / (n − k + 1) and stop
    once they no longer change the sum.
    """
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    smaller = min(only_a, only_b)
    relative_sum = 1.0  # Σ P(X = k) / P(X = smaller) for k ≤ smaller
    term = 1.0
    for k in range(smaller, 0, -1):
        term *= k / (discordant - k + 1)
        if term < relative_sum * 1e-17:
            break
        relative_sum += term
    log_p = math.log(2.0) + _log_binomial_half(smaller, discordant) + math.log(relative_sum)
    return min(1.0, math.exp(log_p)) if log_p < 0.0 else 1.0


_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_binomial_half(k: int, n: int) -> float:
    """The log of P(X = k) for X ~ Binomial(n, ½), by Loader's method (Loader 2000).

    log C(n, k) − n log 2 written as Stirling remainders plus two deviance terms, each small
    where the probability is not negligible, so no large numbers cancel.
    """
    if k == 0 or k == n:
        return -n * math.log(2.0)
    half = n / 2.0
    return (
        _stirling_remainder(n)
        - _stirling_remainder(k)
        - _stirling_remainder(n - k)
        - _deviance(k, half)
        - _deviance(n - k, half)
        + 0.5 * math.log(n / (2.0 * math.pi * k * (n - k)))
    )


def _stirling_remainder(n: int) -> float:
    """log(n!) − [(n + ½) log n − n + log √(2π)], the error of Stirling's formula at n ≥ 1."""
    if n <= 15:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _LN_SQRT_2PI
    square = float(n) * n
    return (
        1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / 1188 / square) / square) / square) / square
    ) / n


def _deviance(x: float, mean: float) -> float:
    """The deviance x log(x / mean) + mean − x; by its series near the mean (no cancellation)."""
    if abs(x - mean) < 0.1 * (x + mean):
        ratio = (x - mean) / (x + mean)
        total = (x - mean) * ratio
        power = 2.0 * x * ratio
        ratio *= ratio
        j = 1
        while True:
            power *= ratio
            updated = total + power / (2 * j + 1)
            if updated == total:
                return updated
            total = updated
            j += 1
    return x * math.log(x / mean) + mean - x


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
