"""Statistics of measurements: the one home for them.

- `summarize(samples)`: median with its distribution-free (binomial order-statistic) 95% CI,
  min, mean, std, CV and the Tukey outlier count.
- `ci_converged(samples, rel)`: the adaptive-sampling stopping rule (CI half-width <= rel x median).
  The C driver applies the same rule with the normal approximation of the binomial ranks.
- `paired_ratio(a, b)`: the speed of A over B from paired samples, median(B)/median(A), with a paired
  bootstrap 95% CI and a Mann-Whitney U p (`Ratio`): the only ratio of times tensorop reports.
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


# ---- comparisons -------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    """Speed of A over B: > 1 means A is faster. For time, median(B) / median(A) of paired
    samples; for modelled cycles, cycles(B) / cycles(A)."""

    ratio: float
    ci95: tuple[float, float] | None
    p_value: float | None
    metric: str
    n: int = 0
    against: str = ""
    note: str = ""

    @property
    def significant(self) -> bool:
        if self.metric == "modelled_cycles":
            return self.ratio != 1.0
        return self.ci95 is not None and (self.ci95[0] > 1.0 or self.ci95[1] < 1.0) and \
            (self.p_value is not None and self.p_value < 0.05)

    def to_json(self) -> dict:
        return {"against": self.against, "ratio": self.ratio, "ratio_ci95": list(self.ci95) if self.ci95 else None,
                "p_value": self.p_value, "metric": self.metric, "pairs": self.n, "note": self.note or None}

    @property
    def baseline_name(self) -> str:
        """Whom the ratio is against, as a user reads it ("OpenBLAS", "cuBLAS", a kernel file)."""
        return {"openblas": "OpenBLAS", "cublas": "cuBLAS", "cudnn": "cuDNN", "naive": "the naive loop",
                "": "OpenBLAS"}.get(self.against, self.against)

    def describe(self) -> str:
        if self.metric == "modelled_cycles":
            return f"{self.ratio:.2f}x (modelled cycles)"
        ci = f" [{self.ci95[0]:.3f}, {self.ci95[1]:.3f}]" if self.ci95 else ""
        p = f"p={self.p_value:.2g}, " if self.p_value is not None else ""
        if self.metric == "time_vs_reference":
            return f"{self.ratio:.3f}x{ci} (each run paired with {self.baseline_name}, {p}n={self.n})"
        return f"{self.ratio:.3f}x{ci} (paired time, {p}n={self.n})"


def paired_ratio(samples_a, samples_b, against: str = "", resamples: int = 2000, seed: int = 0) -> Ratio:
    """Ratio of medians median(B)/median(A) over paired samples with a paired bootstrap 95% CI
    (scipy.stats.bootstrap, BCa where it can, else percentile) and a Mann-Whitney U p."""
    a = np.asarray(samples_a, dtype=float)
    b = np.asarray(samples_b, dtype=float)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ratio = float(np.median(b) / np.median(a))
    if n < 3:
        return Ratio(ratio, None, None, "time", n, against, "too few pairs for a CI")

    def stat(x, y, axis=-1):
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    ci = None
    for method in ("BCa", "percentile"):
        try:
            res = sps.bootstrap((a, b), stat, paired=True, vectorized=True, n_resamples=resamples,
                                confidence_level=0.95, method=method, random_state=np.random.default_rng(seed))
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
            if math.isfinite(lo) and math.isfinite(hi):
                ci = (lo, hi)
                break
        except Exception:
            continue
    p = float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Ratio(ratio, ci, p, "time", n, against)


def ratio_of_ratios(head: Ratio, base: Ratio) -> Ratio:
    """Head's speed over base's when each was measured in its own run against the same in-run
    reference (both paired ratios vs, e.g., OpenBLAS): head.ratio / base.ratio, with a 95% CI from
    the two paired CIs combined on the log scale (independent runs: the half-widths add in
    quadrature). The metric is "time_vs_reference": a ratio of paired ratios, never of raw times
    from two runs."""
    change = head.ratio / base.ratio
    if not head.ci95 or not base.ci95 or min(*head.ci95, *base.ci95) <= 0:
        return Ratio(change, None, None, "time_vs_reference", min(head.n, base.n), base.against,
                     "a run without a CI: no interval")
    z = 1.959963984540054
    se = [(math.log(r.ci95[1]) - math.log(r.ci95[0])) / (2 * z) for r in (head, base)]
    half = z * math.hypot(*se)
    lo, hi = change * math.exp(-half), change * math.exp(half)
    p = float(2 * sps.norm.sf(abs(math.log(change)) / math.hypot(*se))) if any(se) else None
    return Ratio(change, (lo, hi), p, "time_vs_reference", min(head.n, base.n), base.against)
