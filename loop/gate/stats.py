"""Rank statistics behind the gate: Mann-Whitney U, Hodges-Lehmann ratio, calibration.

Pure computation on one value per run (numpy + scipy, no I/O). Everything works on the
log scale so that a shift is a ratio: ``ratio = exp(HL shift) = candidate / baseline``.

Log floor. Logs need values > 0, and counts and some durations are legitimately 0. Every
value below ``max(ABS_FLOOR, REL_FLOOR * largest pooled value)`` is raised to that floor
before taking logs, so "0 errors vs 3 errors" reads as a ratio of about 1e-6 (a ~100%
improvement) instead of -inf. Negative values have no ratio meaning and raise GateError.

Ties. The test is exact (no ties, n <= EXACT_MAX per side), an exact permutation test
conditional on the ties (ties, at most PERMUTATION_MAX arrangements), or the normal
approximation with tie and continuity correction (everything else). All-equal data gives
p = 1 (no evidence either way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from cleanloop.loop.base.errors import GateError

ABS_FLOOR = 1e-12
REL_FLOOR = 1e-6
EXACT_MAX = 50
PERMUTATION_MAX = 5000
#: Asymptotic relative efficiency of Mann-Whitney vs the t-test for normal (log) data.
ARE_MWU = 3.0 / math.pi

Alternative = Literal["less", "greater"]
Floats = NDArray[np.float64]
Values = Sequence[float] | Floats


class Summary(NamedTuple):
    median: float
    q1: float
    q3: float
    worst: float


def finite(values: Values) -> tuple[Floats, int]:
    """The finite values as an array, and how many NaN/inf values were dropped."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(arr)
    return arr[keep], int(arr.size - np.count_nonzero(keep))


def log_floored(baseline: Floats, candidate: Floats) -> tuple[Floats, Floats]:
    """Natural logs of both samples after the shared floor (see module docstring)."""
    pooled = np.concatenate([baseline, candidate])
    if pooled.size and float(pooled.min()) < 0:
        raise GateError(f"negative value {float(pooled.min())!r}: the gate compares ratios")
    top = float(pooled.max()) if pooled.size else 0.0
    floor = max(ABS_FLOOR, REL_FLOOR * top)
    return np.log(np.maximum(baseline, floor)), np.log(np.maximum(candidate, floor))


def summarize(values: Values, higher_is_better: bool = False) -> Summary:
    """Median, quartiles and worst value (max, or min when higher is better); NaN if empty."""
    arr, _ = finite(values)
    if arr.size == 0:
        nan = float("nan")
        return Summary(nan, nan, nan, nan)
    srt = np.sort(arr)
    q1, med, q3 = (_quantile(srt, q) for q in (0.25, 0.5, 0.75))
    worst = float(srt[0] if higher_is_better else srt[-1])
    return Summary(med, q1, q3, worst)


def _quantile(srt: Floats, q: float) -> float:
    """Linear-interpolated quantile of sorted data (numpy's default method, but cheaper)."""
    pos = (srt.size - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, srt.size - 1)
    return float(srt[lo] + (srt[hi] - srt[lo]) * (pos - lo))


def mwu_pvalue(x: Floats, y: Floats, alternative: Alternative) -> float:
    """One-sided Mann-Whitney p-value that `x` tends to be less/greater than `y`.

    NaN when a side is empty; 1.0 when every pooled value is equal.
    """
    if x.size == 0 or y.size == 0:
        return float("nan")
    pooled = np.concatenate([x, y])
    if np.all(pooled == pooled[0]):
        return 1.0
    ties = np.unique(pooled).size < pooled.size
    method: str | stats.PermutationMethod = "asymptotic"
    if not ties and max(x.size, y.size) <= EXACT_MAX:
        method = "exact"
    elif ties and min(x.size, y.size) >= 2 and math.comb(pooled.size, x.size) <= PERMUTATION_MAX:
        method = stats.PermutationMethod(n_resamples=PERMUTATION_MAX)
    res = stats.mannwhitneyu(x, y, alternative=alternative, method=method)
    return float(min(1.0, max(0.0, res.pvalue)))


@lru_cache(maxsize=256)
def u_null_cdf(m: int, n: int) -> Floats:
    """P(U <= u) for u = 0..m*n under H0 without ties (exact recursion on probabilities).

    p[m, n](u) = m/(m+n) * p[m-1, n](u - n) + n/(m+n) * p[m, n-1](u); only additions of
    positive terms, so float64 stays accurate. Cost O(m*n*m*n); call it for m, n <= 50.
    """
    prev: list[Floats] = [np.ones(1) for _ in range(n + 1)]  # row i = 0
    for i in range(1, m + 1):
        row: list[Floats] = [np.ones(1)]
        for j in range(1, n + 1):
            dist = np.zeros(i * j + 1)
            dist[j : j + prev[j].size] += (i / (i + j)) * prev[j]
            dist[: row[j - 1].size] += (j / (i + j)) * row[j - 1]
            row.append(dist)
        prev = row
    return np.cumsum(prev[n])


def ci_rank(m: int, n: int, tail: float) -> int:
    """Largest k with P(U <= k - 1) <= tail: the CI is [d_(k), d_(mn+1-k)] (1-based).

    0 means the data cannot bound the interval at this confidence (too few runs).
    Exact for m, n <= EXACT_MAX, else the normal approximation (rounded down).
    """
    if m == 0 or n == 0:
        return 0
    if max(m, n) <= EXACT_MAX:
        cdf = u_null_cdf(m, n)
        return int(np.searchsorted(cdf, tail, side="right"))
    mean, sd = m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0)
    return max(0, math.floor(mean - float(stats.norm.isf(tail)) * sd))


class Shift(NamedTuple):
    """Hodges-Lehmann estimate of log(candidate) - log(baseline) with its Moses interval."""

    estimate: float
    low: float
    high: float


def hodges_lehmann(log_b: Floats, log_c: Floats, tail: float) -> Shift:
    """Median of all pairwise differences log(c_j) - log(b_i), CI of confidence 1 - 2*tail."""
    if log_b.size == 0 or log_c.size == 0:
        nan = float("nan")
        return Shift(nan, nan, nan)
    diffs = np.sort(np.subtract.outer(log_c, log_b).ravel())
    k = ci_rank(log_c.size, log_b.size, tail)
    if k == 0:
        return Shift(float(np.median(diffs)), -math.inf, math.inf)
    return Shift(float(np.median(diffs)), float(diffs[k - 1]), float(diffs[diffs.size - k]))


def _log_ss(arr: Floats) -> tuple[float, int]:
    """Sum of squared deviations of the log values, and its degrees of freedom."""
    if arr.size < 2:
        return 0.0, 0
    logs, _ = log_floored(arr, np.empty(0))
    return float(np.sum((logs - logs.mean()) ** 2)), arr.size - 1


def coefficient_of_variation(values: Values) -> float:
    """Run-to-run CV from the log-scale spread: sqrt(exp(s^2) - 1), s = sd of log values.

    For lognormal noise this is the exact CV; NaN with fewer than 2 finite values.
    """
    ss, dof = _log_ss(finite(values)[0])
    return math.sqrt(math.expm1(ss / dof)) if dof else float("nan")


def runs_needed(
    cv: float, effect: float, alpha: float, power: float = 0.8, required: float = 0.0
) -> int:
    """Runs per side for a true improvement `effect` to pass a gate requiring `required`.

    Normal approximation on the log scale: s = sqrt(log(1 + cv^2)), the Hodges-Lehmann
    standard error is se(n) = s * sqrt(2 / (n * ARE)) with ARE = 3/pi (Mann-Whitney vs t on
    normal data), and the true shift is mu = -log(1 - effect). IMPROVED needs both
    significance (estimate > z_alpha * se) and the estimate beyond L = -log(1 - required),
    which with probability `power` needs se <= mu / (z_alpha + z_power) and
    se <= (mu - L) / z_power. `alpha` is the one-sided level of one look (plan.alpha_look).
    Two small-sample corrections: + z_alpha^2 / 4 runs (Guenther's correction for the
    normal approximation), and at least the n where the exact test can reach alpha at all
    (1 / C(2n, n) < alpha). Checked by simulation in the tests (power ~0.8 at CV 5%).
    """
    if not (0.0 < effect < 1.0 and 0.0 <= required < effect):
        raise GateError(f"runs_needed: need 0 <= required ({required}) < effect ({effect}) < 1")
    if not (0.0 < alpha < 0.5 and 0.5 <= power < 1.0) or not cv > 0.0:
        raise GateError(f"runs_needed: bad cv={cv}, alpha={alpha} or power={power}")
    s = math.sqrt(math.log1p(cv * cv))
    mu, margin = -math.log1p(-effect), -math.log1p(-required)
    z_a, z_b = float(stats.norm.isf(alpha)), float(stats.norm.isf(1.0 - power))
    se_max = mu / (z_a + z_b)
    if z_b > 0:
        se_max = min(se_max, (mu - margin) / z_b)
    n = math.ceil(2.0 * s * s / (ARE_MWU * se_max * se_max) + z_a * z_a / 4.0)
    n_min = next(k for k in range(1, 1000) if 1.0 / math.comb(2 * k, k) < alpha)
    return max(n, n_min)


def pooled_cv(a1: Floats, a2: Floats) -> float:
    """Run-to-run CV pooled over two samples, each around its own log mean (NaN if unknown)."""
    (ss1, d1), (ss2, d2) = _log_ss(a1), _log_ss(a2)
    return math.sqrt(math.expm1((ss1 + ss2) / (d1 + d2))) if d1 + d2 else math.nan


@dataclass(frozen=True)
class Calibration:
    """What an A/A run (same code twice) says about the noise of one SLI."""

    n_a1: int
    n_a2: int
    cv: float
    ratio: float
    p_value: float

    def runs_needed(self, effect: float, alpha: float, power: float = 0.8,
                    required: float = 0.0) -> int:
        return runs_needed(self.cv, effect, alpha, power, required)


def calibrate(values_a1: Values, values_a2: Values) -> Calibration:
    """Pooled run-to-run CV of two A/A samples, their HL ratio and a two-sided p-value.

    A ratio far from 1 or a small p-value means the runs are not exchangeable (warm-up,
    drift, order effects): fix that before trusting any gate.
    """
    a1, _ = finite(values_a1)
    a2, _ = finite(values_a2)
    cv = pooled_cv(a1, a2)
    if a1.size == 0 or a2.size == 0:
        return Calibration(int(a1.size), int(a2.size), cv, math.nan, math.nan)
    lb, lc = log_floored(a1, a2)
    ratio = math.exp(hodges_lehmann(lb, lc, 0.025).estimate)
    p = min(1.0, 2.0 * min(mwu_pvalue(lc, lb, "less"), mwu_pvalue(lc, lb, "greater")))
    return Calibration(int(a1.size), int(a2.size), cv, ratio, p)
