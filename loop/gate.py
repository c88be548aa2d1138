"""The A/B gate: classify every target and guard, then decide accept/reject/continue.

Input is one value per run per SLI, baseline and candidate runs interleaved. Per item:

* **target** ``SLI improves >= X``: one-sided Mann-Whitney U in the improving direction
  and the Hodges-Lehmann ratio (candidate / baseline, on logs) with its Moses interval.
  IMPROVED if p < alpha_look and the ratio clears the bound (<= 1 - X, or >= 1 + X when
  higher is better). NOT_IMPROVED if the interval rules the required effect out.
  Otherwise UNKNOWN, which becomes INCONCLUSIVE at the final look.
* **guard** ``SLI regresses <= Y``: REGRESSED if the test in the worsening direction gives
  p < alpha_look and the ratio is at or beyond 1 + Y (1 - Y when higher is better).
  HELD if the interval rules a regression of Y out, if the estimate sits in the better
  half of the tolerance (ratio below 1 + Y/2, not significant), or at the final look when
  no significant regression of Y was found. UNKNOWN (run more) while the estimate is
  closer to the tolerance than that and looks remain, so a noisy guard costs runs only
  when it looks like a regression, and never turns a verify inconclusive.
  Every look re-tests a HELD guard for a significant regression.
* MISSING when either side has no finite value: never a pass.

Sequential looks (:class:`SequentialPlan`, e.g. n = 5, 10, 15, 20 runs per side) split alpha
evenly (Bonferroni: alpha_look = alpha / k_max). Simple and conservative: the chance of
any false IMPROVED (or REGRESSED) over all looks is at most alpha. The interval uses
confidence 1 - 2 * alpha_look, so each of its tails matches the one-sided test. With the
default plan (alpha_look = 0.0025) the first look at n = 5 can only ask for more runs: the
smallest exact p-value for 5 vs 5 is 1/252 = 0.004.

A decided IMPROVED or HELD is kept at later looks (pass ``previous``): stopping as soon
as a boundary is crossed is what the Bonferroni bound covers. Failures are never kept,
each look re-tests them. There is no weighted score: accept needs every item to pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from loop.errors import GateError
from loop.gate_stats import finite, hodges_lehmann, log_floored, mwu_pvalue, summarize

Role = Literal["target", "guard"]
Outcome = Literal["accept", "reject", "inconclusive", "continue"]


class Classification(StrEnum):
    IMPROVED = "improved"
    NOT_IMPROVED = "not_improved"
    UNKNOWN = "unknown"
    INCONCLUSIVE = "inconclusive"
    REGRESSED = "regressed"
    HELD = "held"
    MISSING = "missing"


PASSING = frozenset({Classification.IMPROVED, Classification.HELD})
FAILING = frozenset(
    {Classification.NOT_IMPROVED, Classification.REGRESSED, Classification.MISSING}
)


@dataclass(frozen=True)
class GateInput:
    """One target or guard: one value per run on each side. `required` is a fraction."""

    sli: str
    source: str
    role: Role
    required: float
    baseline: Sequence[float]
    candidate: Sequence[float]
    higher_is_better: bool = False


@dataclass(frozen=True)
class SequentialPlan:
    """Looks at initial_runs, +step, ... up to max_runs runs per side; alpha split evenly."""

    initial_runs: int = 5
    step: int = 5
    max_runs: int = 20
    alpha: float = 0.01

    @classmethod
    def from_runs(cls, runs: int, max_runs: int, alpha: float) -> SequentialPlan:
        """First look at `runs` per side, then every two thirds of that, up to `max_runs`
        (what `--runs`, `--max-runs` and `--alpha` ask for)."""
        return cls(initial_runs=runs, step=max(1, runs * 2 // 3), max_runs=max_runs,
                   alpha=alpha)

    def __post_init__(self) -> None:
        if self.initial_runs < 1 or self.step < 1 or self.max_runs < self.initial_runs:
            raise GateError(f"bad sequential plan: {self}")
        if not 0.0 < self.alpha < 0.5:
            raise GateError(f"alpha must be in (0, 0.5), got {self.alpha}")

    @property
    def looks(self) -> tuple[int, ...]:
        """Runs per side at each look; max_runs is always the last one."""
        ns = list(range(self.initial_runs, self.max_runs + 1, self.step))
        if ns[-1] != self.max_runs:
            ns.append(self.max_runs)
        return tuple(ns)

    @property
    def k_max(self) -> int:
        return len(self.looks)

    @property
    def alpha_look(self) -> float:
        return self.alpha / self.k_max

    def is_final(self, look_index: int) -> bool:
        return look_index >= self.k_max - 1

    def next_n(self, decision: GateDecision | None) -> int | None:
        """Total runs per side wanted before the next look (None: stop, the gate decided).

        ``next_n(None)`` is the first look's size.
        """
        if decision is None:
            return self.looks[0]
        if decision.outcome != "continue" or self.is_final(decision.look_index):
            return None
        return self.looks[decision.look_index + 1]


#: the plan `cleanloop verify` uses unless told otherwise: looks at 6, 10, 14, 18 runs per
#: side (6 vs 6 is the smallest sample whose exact test can reach alpha / 4)
DEFAULT_PLAN = SequentialPlan(initial_runs=6, step=4, max_runs=18, alpha=0.01)


@dataclass(frozen=True)
class Comparison:
    """The evidence and classification of one item at one look."""

    sli: str
    source: str
    role: Role
    classification: Classification
    n_baseline: int
    n_candidate: int
    median_baseline: float
    median_candidate: float
    iqr_baseline: tuple[float, float]
    iqr_candidate: tuple[float, float]
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha_look: float
    threshold: float
    ok: bool
    reason: str
    higher_is_better: bool = False
    n_dropped_baseline: int = 0
    n_dropped_candidate: int = 0
    look_index: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sli": self.sli, "source": self.source, "role": self.role,
            "classification": self.classification.value, "ok": self.ok,
            "n_baseline": self.n_baseline, "n_candidate": self.n_candidate,
            "n_dropped_baseline": self.n_dropped_baseline,
            "n_dropped_candidate": self.n_dropped_candidate,
            "median_baseline": _num(self.median_baseline),
            "median_candidate": _num(self.median_candidate),
            "iqr_baseline": [_num(v) for v in self.iqr_baseline],
            "iqr_candidate": [_num(v) for v in self.iqr_candidate],
            "ratio": _num(self.ratio), "ci": [_num(self.ci_low), _num(self.ci_high)],
            "p_value": _num(self.p_value), "alpha_look": _num(self.alpha_look),
            "threshold": _num(self.threshold), "higher_is_better": self.higher_is_better,
            "look": self.look_index, "reason": self.reason,
        }


@dataclass(frozen=True)
class GateDecision:
    outcome: Outcome
    look_index: int
    final: bool
    alpha: float
    alpha_look: float
    comparisons: tuple[Comparison, ...]
    reason: str

    @property
    def accepted(self) -> bool:
        return self.outcome == "accept"

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "look": self.look_index, "final": self.final,
            "alpha": self.alpha, "alpha_look": _num(self.alpha_look), "reason": self.reason,
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def _num(x: float) -> float | None:
    """JSON-friendly: 6 significant digits, NaN/inf -> None."""
    return float(f"{x:.6g}") if math.isfinite(x) else None


def _check_input(item: GateInput) -> None:
    if item.role not in ("target", "guard"):
        raise GateError(f"{item.source}: role must be target or guard, not {item.role!r}")
    shrinks = (item.role == "target") != item.higher_is_better  # bound is 1 - required
    top = 1.0 if shrinks else math.inf
    if not (math.isfinite(item.required) and 0.0 <= item.required < top):
        raise GateError(f"{item.source}: required change {item.required!r} out of range")


def compare(item: GateInput, alpha_look: float, final: bool, look_index: int = 0) -> Comparison:
    """Classify one item at one look (see module docstring for the rules)."""
    _check_input(item)
    base, dropped_b = finite(item.baseline)
    cand, dropped_c = finite(item.candidate)
    sb, sc = summarize(base), summarize(cand)
    try:
        log_b, log_c = log_floored(base, cand)
    except GateError as exc:
        raise GateError(f"{item.source}: {exc}") from exc
    # the candidate is smaller when it improves a lower-is-better SLI / worsens the other kind
    smaller = (item.role == "target") != item.higher_is_better
    p = mwu_pvalue(log_c, log_b, "less" if smaller else "greater")
    shift = hodges_lehmann(log_b, log_c, alpha_look)
    ratio, lo, hi = (math.exp(v) for v in shift)
    up = (item.role == "guard") != item.higher_is_better  # bound above 1?
    threshold = 1.0 + item.required if up else 1.0 - item.required
    if base.size == 0 or cand.size == 0:
        cls = Classification.MISSING
        reason = f"no data: {base.size} baseline and {cand.size} candidate values"
    elif item.role == "target":
        cls, reason = _classify_target(item.higher_is_better, ratio, lo, hi, p, alpha_look,
                                       threshold, final)
    else:
        cls, reason = _classify_guard(item.higher_is_better, ratio, lo, hi, p, alpha_look,
                                      threshold, final)
    if dropped_b or dropped_c:
        reason += f" ({dropped_b + dropped_c} NaN/inf values dropped)"
    return Comparison(
        sli=item.sli, source=item.source, role=item.role, classification=cls,
        n_baseline=int(base.size), n_candidate=int(cand.size),
        median_baseline=sb.median, median_candidate=sc.median,
        iqr_baseline=(sb.q1, sb.q3), iqr_candidate=(sc.q1, sc.q3),
        ratio=ratio, ci_low=lo, ci_high=hi, p_value=p, alpha_look=alpha_look,
        threshold=threshold, ok=cls in PASSING, reason=reason,
        higher_is_better=item.higher_is_better, n_dropped_baseline=dropped_b,
        n_dropped_candidate=dropped_c, look_index=look_index,
    )


def _evidence(ratio: float, lo: float, hi: float, p: float) -> str:
    return f"ratio {ratio:.3g} [{lo:.3g}, {hi:.3g}], p={p:.2g}"


def _classify_target(
    higher: bool, ratio: float, lo: float, hi: float, p: float, alpha: float,
    threshold: float, final: bool,
) -> tuple[Classification, str]:
    ev, op = _evidence(ratio, lo, hi, p), (">=" if higher else "<=")
    clears = ratio >= threshold if higher else ratio <= threshold
    if p < alpha and clears:
        return Classification.IMPROVED, f"{ev} < {alpha:.2g} and ratio {op} {threshold:.3g}"
    if (hi < threshold) if higher else (lo > threshold):
        return Classification.NOT_IMPROVED, f"{ev}: CI rules out ratio {op} {threshold:.3g}"
    if final:
        return Classification.INCONCLUSIVE, f"{ev}: undecided at the last look"
    return Classification.UNKNOWN, f"{ev}: undecided, more runs needed"


def _classify_guard(
    higher: bool, ratio: float, lo: float, hi: float, p: float, alpha: float,
    threshold: float, final: bool,
) -> tuple[Classification, str]:
    ev, op = _evidence(ratio, lo, hi, p), ("<=" if higher else ">=")
    beyond = ratio <= threshold if higher else ratio >= threshold
    if p < alpha and beyond:
        return Classification.REGRESSED, f"{ev} < {alpha:.2g} and ratio {op} {threshold:.3g}"
    if (lo > threshold) if higher else (hi < threshold):
        return Classification.HELD, f"{ev}: CI rules out ratio {op} {threshold:.3g}"
    # held early only when the estimate sits in the better half of the tolerance
    early = 1.0 + (threshold - 1.0) / 2.0
    if (ratio > early) if higher else (ratio < early):
        return Classification.HELD, f"{ev}: estimate well within tolerance, no significant " \
                                    "regression"
    if final:
        return Classification.HELD, f"{ev}: no significant regression by the last look"
    return Classification.UNKNOWN, f"{ev}: regression not ruled out yet, more runs needed"


def _key(c: Comparison | GateInput) -> tuple[str, str, str]:
    return (c.sli, c.source, c.role)


def decide(
    items: Sequence[GateInput], plan: SequentialPlan, look_index: int,
    previous: GateDecision | None = None,
) -> GateDecision:
    """Classify every item at look `look_index` (0-based) of `plan` and decide.

    reject: anything NOT_IMPROVED, REGRESSED or MISSING; continue: something UNKNOWN and
    looks remain; inconclusive: something INCONCLUSIVE; accept: every target IMPROVED and
    every guard HELD (also when there are no items: nothing relative to check).
    `previous` (the decision of an earlier look) keeps items already IMPROVED / HELD.
    """
    if not 0 <= look_index < plan.k_max:
        raise GateError(f"look {look_index} outside the plan's {plan.k_max} looks")
    final = plan.is_final(look_index)
    kept = {_key(c): c for c in previous.comparisons if c.classification in PASSING} \
        if previous is not None else {}
    comparisons: list[Comparison] = []
    for item in items:
        fresh = compare(item, plan.alpha_look, final, look_index)
        old = kept.get(_key(item))
        if old is not None and fresh.classification not in FAILING:
            fresh = old
        comparisons.append(fresh)
    outcome, reason = _outcome(comparisons, final)
    return GateDecision(outcome, look_index, final, plan.alpha, plan.alpha_look,
                        tuple(comparisons), reason)


def _outcome(comparisons: Sequence[Comparison], final: bool) -> tuple[Outcome, str]:
    by_class: dict[Classification, list[str]] = {}
    for c in comparisons:
        by_class.setdefault(c.classification, []).append(c.source)
    failing = [f"{c.source} ({c.classification.value})" for c in comparisons
               if c.classification in FAILING]
    if failing:
        return "reject", "failed: " + "; ".join(failing)
    if Classification.UNKNOWN in by_class and not final:
        return "continue", "undecided: " + "; ".join(by_class[Classification.UNKNOWN])
    if Classification.INCONCLUSIVE in by_class:
        return "inconclusive", "undecided at the last look: " + "; ".join(
            by_class[Classification.INCONCLUSIVE])
    if not comparisons:
        return "accept", "no targets or guards to compare"
    if not any(c.role == "target" for c in comparisons):
        return "accept", "every guard held (the scenario has no targets)"
    return "accept", "every target improved and every guard held"
