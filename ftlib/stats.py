"""How sure a measurement lets you be: intervals for proportions, paired differences and seeds.

A fine-tuning result is a number measured on a finite test set after a run that depended
on a seed. Before the book draws a conclusion from a comparison, it asks how much that
number would move with another test set or another seed:

- ``wilson_interval``: an exact-match rate or an accuracy, k right out of n;
- ``paired_bootstrap``: the difference of two systems scored on the *same* test items;
- ``mean_interval``: a mean over a few seeds (Student's t);
- ``run_seeds``: run the same short experiment under several seeds, with a progress bar;
- ``verdict``: what the interval of a difference allows the prose to say.

Everything here is plain Python and NumPy (no SciPy at run time); the tests check the
numbers against SciPy.

Taught in chapter 1, section 1.6 (intervals) and used by every comparison from then on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
from tqdm import tqdm

__all__ = [
    "Interval",
    "mean_interval",
    "normal_quantile",
    "paired_bootstrap",
    "run_seeds",
    "t_quantile",
    "verdict",
    "wilson_interval",
]

T = TypeVar("T")


class Interval(NamedTuple):
    """An estimate with the low and high ends of its confidence interval."""

    estimate: float
    low: float
    high: float

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside the interval (e.g. a difference that is not zero)."""
        return value < self.low or value > self.high

    def format(self, spec: str = ".2f") -> str:
        """``"0.78 [0.65, 0.87]"``, each number formatted with ``spec``."""
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def __str__(self) -> str:
        return self.format()


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def normal_quantile(p: float) -> float:
    """The quantile function of the standard normal distribution (about 1e-9 accurate).

    Acklam's rational approximation, refined by one Newton step on ``math.erf``.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    elif p > 1 - low:
        return -normal_quantile(1 - p)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
            ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
        )
    err = 0.5 * math.erfc(-x / math.sqrt(2)) - p  # one Newton step
    return x - err * math.sqrt(2 * math.pi) * math.exp(x * x / 2)


def _t_cdf(x: float, df: int) -> float:
    """Student's t cumulative distribution, by Simpson's rule on the density (df >= 1)."""
    if x == 0:
        return 0.5
    # Substitute t = tan(u) for df=1-like heavy tails: integrate the density from 0 to |x|.
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    upper = math.atan(abs(x))
    n = 2000  # even number of Simpson intervals over u in [0, atan|x|]

    def g(u: float) -> float:  # density(tan u) * d(tan u)/du
        t = math.tan(u)
        return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df)) / math.cos(u) ** 2

    h = upper / n
    s = g(0.0) + g(upper) + sum((4 if i % 2 else 2) * g(i * h) for i in range(1, n))
    area = s * h / 3
    return 0.5 + math.copysign(area, x)


def t_quantile(p: float, df: int) -> float:
    """The quantile function of Student's t with ``df`` degrees of freedom (about 1e-7 accurate)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(60):  # bisection
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of a proportion: ``successes`` right out of ``n``.

    Unlike the textbook ``p +- z sqrt(p(1-p)/n)``, it stays inside [0, 1] and does not collapse
    to a single point at 0/n or n/n, which matters for the small test sets of this book.

    Raises:
        ValueError: for n < 1, successes outside [0, n], or a confidence outside (0, 1).
    """
    _check_confidence(confidence)
    if isinstance(successes, bool) or isinstance(n, bool):
        raise TypeError("successes and n must be integers (counts), not booleans")
    if n < 1 or not 0 <= successes <= n or int(successes) != successes or int(n) != n:
        raise ValueError(f"need integer counts with 0 <= successes <= n and n >= 1 (got {successes} of {n})")
    z = normal_quantile(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def _as_scores(values: Sequence[float], name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return scores


def paired_bootstrap(
    scores_a: Sequence[float],
    scores_b: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """The mean of ``scores_a - scores_b`` over the same test items, with a percentile bootstrap interval.

    The items are resampled with replacement, keeping each item's pair of scores together:
    the items that both systems find easy or hard then cancel out, and the interval is much
    narrower than two separate intervals would suggest. An interval that contains 0 means
    "no difference we can detect on this test set".

    Args:
        scores_a, scores_b: one score per test item (1/0 for exact match, or any number), same order.

    Raises:
        ValueError: when the two lists differ in length or are empty.
    """
    _check_confidence(confidence)
    a, b = _as_scores(scores_a, "scores_a"), _as_scores(scores_b, "scores_b")
    if a.size != b.size:
        raise ValueError(f"paired scores need the same items: {a.size} against {b.size}")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(diff.mean()), float(low), float(high))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of a few runs (seeds) with its Student-t confidence interval.

    With a single value the interval is that value alone (nothing is known of the spread);
    the book always runs at least 3 seeds when it draws a conclusion.
    """
    _check_confidence(confidence)
    x = _as_scores(values, "values")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, mean, mean)
    half = t_quantile(1 - (1 - confidence) / 2, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half)


def run_seeds(fn: Callable[[int], T], seeds: Sequence[int] = (0, 1, 2), desc: str = "seeds") -> list[T]:
    """Call ``fn(seed)`` for each seed, with a progress bar, and return the results in order."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("run_seeds needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return [fn(seed) for seed in tqdm(seeds, desc=desc)]


def verdict(ci: Interval, lower: str, higher: str, neither: str = "no difference we can detect") -> str:
    """What the interval of a difference ``a - b`` allows us to say.

    ``lower`` when the whole interval is below zero (a is lower than b), ``higher`` when it is
    above zero, ``neither`` when it contains zero: the data cannot tell the two apart. The
    chapters glue the returned words into their prose, so that the text follows the numbers
    when a sweep is recorded again (chapter 4, section 4.5 first; chapters 6 and 7).
    """
    if ci.low > ci.high:
        raise ValueError(f"an interval needs low <= high, got {ci}")
    if ci.high < 0:
        return lower
    if ci.low > 0:
        return higher
    return neither
