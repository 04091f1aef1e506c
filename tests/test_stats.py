"""ftlib.stats against SciPy (a test-only reference) and against values worked out by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sp

from ftlib.stats import (
    Interval,
    mean_interval,
    normal_quantile,
    paired_bootstrap,
    run_seeds,
    t_quantile,
    verdict,
    wilson_interval,
)


@pytest.mark.parametrize("p", [1e-9, 1e-4, 0.01, 0.3, 0.5, 0.9, 0.975, 0.999999])
def test_normal_quantile_equals_scipy(p):
    assert normal_quantile(p) == pytest.approx(sp.norm.ppf(p), abs=1e-8)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 200])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995, 0.025])
def test_t_quantile_equals_scipy(df, p):
    assert t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (16, 100), (78, 100), (50, 50), (39, 50), (86, 95)])
def test_wilson_equals_the_closed_form_and_scipy(k, n):
    got = wilson_interval(k, n)
    lo, hi = sp.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert got.estimate == k / n
    assert got.low == pytest.approx(lo, abs=1e-9) and got.high == pytest.approx(hi, abs=1e-9)


def test_wilson_known_value_and_bounds():
    # 0 of 10 at 95 %: the upper end is z^2 / (n + z^2) = 3.8415 / 13.8415
    assert wilson_interval(0, 10).high == pytest.approx(1.959964**2 / (10 + 1.959964**2), rel=1e-6)
    wide, narrow = wilson_interval(45, 50, 0.99), wilson_interval(45, 50, 0.8)
    assert wide.low < narrow.low < 0.9 < narrow.high < wide.high


@pytest.mark.parametrize("bad", [(-1, 10), (11, 10), (0, 0), (1.5, 10)])
def test_wilson_rejects_bad_counts(bad):
    with pytest.raises(ValueError):
        wilson_interval(*bad)
    with pytest.raises(TypeError):
        wilson_interval(True, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 10, confidence=95)


def test_mean_interval_equals_scipy_t_interval():
    values = [0.78, 0.74, 0.82, 0.80]
    lo, hi = sp.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sp.sem(values))
    got = mean_interval(values)
    assert got.estimate == pytest.approx(np.mean(values))
    assert (got.low, got.high) == pytest.approx((lo, hi), abs=1e-7)
    assert mean_interval([0.5]) == Interval(0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        mean_interval([])
    with pytest.raises(ValueError, match="NaN"):
        mean_interval([0.1, float("nan")])


def test_paired_bootstrap_sees_what_unpaired_intervals_miss():
    rng = np.random.default_rng(0)
    difficulty = rng.random(200)
    a = (difficulty < 0.60).astype(float)  # b solves everything a solves, and 5 % more
    b = (difficulty < 0.65).astype(float)
    diff = paired_bootstrap(b, a, seed=1)
    assert diff.estimate == pytest.approx(b.mean() - a.mean())
    assert diff.excludes(0.0)  # paired: the gain is clear
    ia, ib = wilson_interval(int(a.sum()), 200), wilson_interval(int(b.sum()), 200)
    assert ib.low < ia.high  # unpaired intervals overlap
    same = paired_bootstrap(a, a)
    assert same == Interval(0.0, 0.0, 0.0) and not same.excludes(0.0)
    assert paired_bootstrap(b, a, seed=1) == diff  # seeded: repeatable


def test_paired_bootstrap_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([1, 0, 1], [1, 0])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_interval_format_and_run_seeds():
    assert str(Interval(0.78, 0.6452, 0.8721)) == "0.78 [0.65, 0.87]"
    assert Interval(1, 2, 3).format(".0f") == "1 [2, 3]"
    assert run_seeds(lambda s: s * s, seeds=(1, 2, 3)) == [1, 4, 9]
    with pytest.raises(ValueError):
        run_seeds(lambda s: s, seeds=[])
    with pytest.raises(ValueError, match="distinct"):
        run_seeds(lambda s: s, seeds=[1, 1])
    assert math.isfinite(t_quantile(0.975, 1))


def test_verdict_reads_the_sign_of_the_whole_interval():
    assert verdict(Interval(-0.3, -0.5, -0.1), "a lower", "a higher") == "a lower"
    assert verdict(Interval(0.3, 0.1, 0.5), "a lower", "a higher") == "a higher"
    assert verdict(Interval(0.1, -0.1, 0.3), "a lower", "a higher") == "no difference we can detect"
    assert verdict(Interval(0.0, 0.0, 0.2), "a lower", "a higher", neither="tie") == "tie"  # touching zero
    with pytest.raises(ValueError, match="low <= high"):
        verdict(Interval(0.0, 0.2, -0.2), "a lower", "a higher")
