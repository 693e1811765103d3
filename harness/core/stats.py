"""Statistics of measurements: the one home for them.

- `summarize(samples)`: median with its distribution-free (binomial order-statistic) 95% CI,
  min, mean, std, CV and the Tukey outlier count.
- `ci_converged(samples, rel)`: the adaptive-sampling stopping rule (CI half-width <= rel x median).
  The C driver applies the same rule with the normal approximation of the binomial ranks.
- `compare(a, b)`: ratio of medians a/b with a bootstrap 95% CI and a Mann-Whitney U p-value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from harness.core.records import Summary


def median_ci(samples, level: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free CI of the median from order statistics x_(j) <= m <= x_(n+1-j).

    Returns (lo, hi, achieved_level). j is the largest rank with
    P(j <= Bin(n, 1/2) <= n-j) >= level; for n < 6 no such j exists at 95% and the full
    range [min, max] is returned with its (lower) achieved level.
    """
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0.0
    alpha = 1.0 - level
    # coverage of [x_(j), x_(n+1-j)] (1-based) is 1 - 2 * P(Bin <= j-1)
    j = int(sps.binom.ppf(alpha / 2, n, 0.5))      # smallest k with cdf(k) >= alpha/2
    while j >= 1 and 2 * sps.binom.cdf(j - 1, n, 0.5) > alpha:
        j -= 1
    j = max(j, 1)
    achieved = 1.0 - 2 * sps.binom.cdf(j - 1, n, 0.5)
    return float(x[j - 1]), float(x[n - j]), float(achieved)


def tukey_outliers(samples) -> int:
    x = np.asarray(samples, dtype=float)
    if len(x) < 4:
        return 0
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    return int(np.sum((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr)))


def summarize(samples, level: float = 0.95) -> Summary:
    x = np.asarray(samples, dtype=float)
    if len(x) == 0:
        raise ValueError("no samples")
    lo, hi, achieved = median_ci(x, level)
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if len(x) > 1 else 0.0
    return Summary(n=len(x), median=float(np.median(x)), ci_lo=lo, ci_hi=hi, ci_level=achieved,
                   minimum=float(np.min(x)), mean=mean, std=std, cv=std / mean if mean > 0 else math.nan,
                   outliers=tukey_outliers(x))


def ci_converged(samples, rel: float = 0.01, level: float = 0.95) -> bool:
    """True when the CI half-width of the median is at most rel x median (at the full level)."""
    if len(samples) < 6:
        return False
    lo, hi, achieved = median_ci(samples, level)
    med = float(np.median(samples))
    return achieved >= level and med > 0 and (hi - lo) / 2 <= rel * med


@dataclass(frozen=True)
class Comparison:
    ratio: float              # median(a) / median(b)
    ci_lo: float
    ci_hi: float
    p_value: float            # two-sided Mann-Whitney U
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


def compare(a, b, level: float = 0.95, resamples: int = 4000, seed: int = 0) -> Comparison:
    """Ratio of medians a/b (for times: > 1 means a is slower) with a percentile-bootstrap CI
    (fixed seed, so the same data always gives the same interval) and a Mann-Whitney U test."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ratio = float(np.median(a) / np.median(b))
    if len(a) < 2 or len(b) < 2:
        return Comparison(ratio, math.nan, math.nan, math.nan, len(a), len(b))
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(resamples, len(a)), replace=True), axis=1)
    rb = np.median(rng.choice(b, size=(resamples, len(b)), replace=True), axis=1)
    boot = ra / rb
    lo, hi = np.percentile(boot, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    p = float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Comparison(ratio, float(lo), float(hi), p, len(a), len(b))
