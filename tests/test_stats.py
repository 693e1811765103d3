"""Statistics against synthetic data with known answers."""
import numpy as np
import pytest

from harness.core import stats


def test_median_ci_exact_ranks_n10():
    # Bin(10, 1/2): P(X <= 1) = 11/1024 <= 0.025 < P(X <= 2) = 56/1024, so the 95% interval
    # is [x_(2), x_(9)] with coverage 1 - 22/1024.
    lo, hi, level = stats.median_ci(np.arange(1, 11)[::-1])
    assert (lo, hi) == (2, 9)
    assert level == pytest.approx(1 - 22 / 1024)


def test_median_ci_small_n_falls_back_to_range():
    lo, hi, level = stats.median_ci([5.0, 1.0, 3.0])
    assert (lo, hi) == (1.0, 5.0)
    assert level == pytest.approx(0.75)


def test_median_ci_covers_true_median_about_95_percent():
    rng = np.random.default_rng(1)
    true_median = np.log(2)          # exponential(1)
    hits = 0
    reps = 600
    for _ in range(reps):
        lo, hi, level = stats.median_ci(rng.exponential(1.0, size=60))
        assert level >= 0.95
        hits += lo <= true_median <= hi
    assert 0.93 <= hits / reps <= 0.995


def test_summarize_known_values_and_outliers():
    x = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 5.0, 6.0, 1.02]
    s = stats.summarize(x)
    assert s.n == 10
    assert s.median == pytest.approx(1.01)
    assert s.minimum == 0.9
    assert s.mean == pytest.approx(np.mean(x))
    assert s.cv == pytest.approx(np.std(x, ddof=1) / np.mean(x))
    assert s.outliers == 2
    assert s.ci_lo <= s.median <= s.ci_hi


def test_ci_converged_rule():
    rng = np.random.default_rng(2)
    tight = 1.0 + rng.normal(0, 0.001, size=50)
    loose = 1.0 + rng.normal(0, 0.2, size=50)
    assert stats.ci_converged(tight, rel=0.01)
    assert not stats.ci_converged(loose, rel=0.01)
    assert not stats.ci_converged(tight[:5], rel=0.01)   # too few for a 95% interval


def test_paired_ratio_detects_a_known_ratio():
    """A is 1.5x faster than B (B's times are 1.5x A's): median(B)/median(A) = 1.5 with a paired
    bootstrap CI around it and a tiny Mann-Whitney p."""
    rng = np.random.default_rng(3)
    a = rng.lognormal(0, 0.02, size=40)
    b = 1.5 * a * rng.lognormal(0, 0.01, size=40)
    r = stats.paired_ratio(a, b, against="b")
    assert r.ratio == pytest.approx(float(np.median(b) / np.median(a)))
    assert r.ratio == pytest.approx(1.5, rel=0.02)
    assert r.ci95[0] < r.ratio < r.ci95[1] and r.ci95[1] - r.ci95[0] < 0.05
    assert r.p_value < 1e-6 and r.significant and r.metric == "time" and r.n == 40 and r.against == "b"


def test_paired_ratio_matches_scipy_on_known_data():
    """The interval is scipy.stats.bootstrap's paired BCa interval of median(B)/median(A), and the
    p-value scipy's two-sided Mann-Whitney U, on the same data."""
    from scipy import stats as sps
    rng = np.random.default_rng(5)
    a = rng.normal(10, 0.5, size=30)
    b = a * rng.normal(1.1, 0.02, size=30)
    r = stats.paired_ratio(a, b, resamples=2000, seed=0)
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: np.median(y, axis=axis) / np.median(x, axis=axis),
                        paired=True, vectorized=True, n_resamples=2000, method="BCa",
                        random_state=np.random.default_rng(0)).confidence_interval
    assert r.ci95 == pytest.approx((ref.low, ref.high))
    assert r.p_value == pytest.approx(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def test_paired_ratio_of_one_distribution_is_not_significant():
    rng = np.random.default_rng(4)
    a = rng.normal(10, 1, size=40)
    b = rng.normal(10, 1, size=40)
    r = stats.paired_ratio(a, b)
    assert r.ci95[0] < 1.0 < r.ci95[1]
    assert r.p_value > 0.05 and not r.significant


def test_paired_ratio_with_too_few_pairs_has_no_interval():
    r = stats.paired_ratio([1.0, 1.1], [2.0, 2.1])
    assert r.ci95 is None and r.p_value is None and "too few" in r.note
