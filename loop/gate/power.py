"""What a given noise level lets the gate decide: runs needed and smallest decidable effects.

Normal approximation on the log scale, as in :func:`cleanloop.loop.gate.stats.runs_needed`: with
run-to-run CV ``c`` the log values have sd ``s = sqrt(log(1 + c^2))`` and the Hodges-Lehmann
shift from n runs per side has standard error ``se(n) = s * sqrt(2 / (n * ARE))`` (ARE = 3/pi).
``alpha`` is always the one-sided level of one look (``plan.alpha_look``).

* A **guard** ``regresses <= Y`` is HELD when the upper end of its one-sided interval,
  about ``estimate + z_alpha * se``, is below ``L = log(1 + Y)`` (non-inferiority). If the
  true log-ratio is ``mu0`` (0: nothing changed), that happens with probability ``power``
  once ``se <= (L - mu0) / (z_alpha + z_power)``.
* A **target** ``improves >= X`` is IMPROVED when significant and beyond the margin; see
  :func:`cleanloop.loop.gate.stats.runs_needed`.

Small samples: ``+ z_alpha^2 / 4`` runs (Guenther's correction), and never fewer runs than
the exact test needs to bound an interval at ``alpha`` at all (``1 / C(2n, n) <= alpha``).
"""

from __future__ import annotations

import math
from functools import lru_cache

from scipy import stats

from cleanloop.loop.base.errors import GateError
from cleanloop.loop.gate.stats import ARE_MWU

#: power assumed when the gate decides whether an item can still be decided at all: an
#: item that would more likely than not end undecided within the cap is stopped early
STOP_POWER = 0.5
#: power of the "needs about N runs" advice
ADVICE_POWER = 0.8
#: the largest run count any advice names (beyond it, the advice is the tolerance)
MAX_ADVICE_RUNS = 100_000


def log_sd(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


@lru_cache(maxsize=64)
def _z(p: float) -> float:
    return float(stats.norm.isf(p))


@lru_cache(maxsize=64)
def min_runs_for_interval(alpha: float) -> int:
    """The fewest runs per side for which the exact interval at `alpha` is bounded."""
    return next(k for k in range(1, 1000) if 1.0 / math.comb(2 * k, k) <= alpha)


def _check(cv: float, alpha: float, power: float) -> None:
    if not (0.0 < alpha < 0.5 and 0.5 <= power < 1.0) or not cv >= 0.0:
        raise GateError(f"bad cv={cv}, alpha={alpha} or power={power}")


def log_margin(fraction: float, towards_higher: bool) -> float:
    """A required change as a log-ratio: 10 % worse for lower-is-better is log(1.10), 10 %
    better is -log(0.90); mirrored when higher is better."""
    return math.log1p(fraction) if towards_higher else -math.log1p(-fraction)


def _runs_for_se(cv: float, se_max: float, alpha: float) -> int:
    n_min = min_runs_for_interval(alpha)
    if se_max <= 0:
        return MAX_ADVICE_RUNS
    if cv == 0.0:
        return n_min
    s = log_sd(cv)
    n = math.ceil(2.0 * s * s / (ARE_MWU * se_max * se_max) + _z(alpha) ** 2 / 4.0)
    return min(MAX_ADVICE_RUNS, max(n, n_min))


def guard_runs_needed(cv: float, tolerance: float, alpha: float, power: float = ADVICE_POWER,
                      higher_is_better: bool = False) -> int:
    """Runs per side for a guard `regresses <= tolerance` to be HELD with `power` when
    nothing changed (the best case for a guard)."""
    _check(cv, alpha, power)
    room = log_margin(tolerance, towards_higher=not higher_is_better)
    return _runs_for_se(cv, room / (_z(alpha) + _z(1.0 - power)), alpha)


def target_runs_needed(cv: float, required: float, alpha: float, effect: float,
                       power: float = ADVICE_POWER, higher_is_better: bool = False) -> int:
    """Runs per side for a target `improves >= required` to be IMPROVED with `power` when the
    true improvement is `effect` (both fractions): significance and the margin cleared."""
    _check(cv, alpha, power)
    if effect <= required or (not higher_is_better and effect >= 1.0):
        return MAX_ADVICE_RUNS
    mu = log_margin(effect, towards_higher=higher_is_better)
    margin = log_margin(required, towards_higher=higher_is_better)
    z_a, z_b = _z(alpha), _z(1.0 - power)
    se_max = min(mu / (z_a + z_b), (mu - margin) / z_b if z_b > 0 else math.inf)
    return _runs_for_se(cv, se_max, alpha)


def _se(cv: float, n: int, alpha: float) -> float:
    """Standard error of the log-ratio at n runs per side (Guenther's correction undone)."""
    n_eff = n - _z(alpha) ** 2 / 4.0
    if n_eff <= 0 or n < min_runs_for_interval(alpha):
        return math.inf
    return log_sd(cv) * math.sqrt(2.0 / (n_eff * ARE_MWU))


def guard_detectable(cv: float, n: int, alpha: float, power: float = ADVICE_POWER,
                     higher_is_better: bool = False) -> float:
    """The smallest tolerance a guard proves with `power` at n runs per side when nothing
    changed (inf when n runs cannot bound the interval at all)."""
    _check(cv, alpha, power)
    se = _se(cv, n, alpha)
    if not math.isfinite(se):
        return math.inf
    shift = (_z(alpha) + _z(1.0 - power)) * se
    return -math.expm1(-shift) if higher_is_better else math.expm1(shift)


def target_detectable(cv: float, n: int, alpha: float, required: float,
                      power: float = ADVICE_POWER, higher_is_better: bool = False) -> float:
    """The smallest true improvement a target `improves >= required` accepts with `power` at
    n runs per side (inf when no improvement can be shown at all)."""
    _check(cv, alpha, power)
    se = _se(cv, n, alpha)
    if not math.isfinite(se):
        return math.inf
    margin = log_margin(required, towards_higher=higher_is_better)
    mu = max((_z(alpha) + _z(1.0 - power)) * se, margin + _z(1.0 - power) * se)
    return math.expm1(mu) if higher_is_better else -math.expm1(-mu)
