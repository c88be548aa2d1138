"""The A/B gate: classify every target and guard, then decide accept/reject/continue.

Input is one value per run per SLI, baseline and candidate runs interleaved. Per item:

* **target** ``SLI improves >= X``: one-sided Mann-Whitney U in the improving direction
  and the Hodges-Lehmann ratio (candidate / baseline, on logs) with its Moses interval.
  IMPROVED if p < alpha_look and the ratio clears the bound (<= 1 - X, or >= 1 + X when
  higher is better). NOT_IMPROVED if the interval rules the required effect out.
  Otherwise UNKNOWN (more runs), INCONCLUSIVE at the final look.
* **guard** ``SLI regresses <= Y`` is a non-inferiority test: HELD only when the one-sided
  interval at alpha_look rules a regression of Y out (upper end below 1 + Y, or lower end
  above 1 - Y when higher is better). REGRESSED if the test in the worsening direction gives
  p < alpha_look and the ratio is at or beyond the tolerance. Otherwise UNKNOWN (more runs),
  INCONCLUSIVE at the final look: absence of evidence of a regression is not evidence of its
  absence, so a guard is never held for lack of a significant regression.
* **per run**: a 0/1 SLI (``step(..).ok``, ``app.crashed``; ``GateInput.per_run``) and any
  SLI whose baseline is 0 in every run have no meaningful ratio. A guard is REGRESSED when
  a candidate run is worse than the baseline's worst run, else HELD; a target is IMPROVED
  when every candidate run is at least as good as the baseline's best and better than its
  worst, else NOT_IMPROVED. No ratio is reported for them.
* MISSING when either side has no finite value: never a pass.

Noise decides what can be decided. At every look each undecided ratio item's run-to-run CV
is estimated from both sides (cleanloop.loop.gate.power); an item that would more likely than not
stay undecided within the plan's cap even in its best case (a guard when nothing changed, a
target at its observed or 1.5x required effect) is INCONCLUSIVE at once, with the runs per
side it needs and the tolerance (or improvement) the cap could decide.

Sequential looks (:class:`SequentialPlan`, e.g. n = 6, 10, 14, 18 runs per side) split
alpha evenly (Bonferroni: alpha_look = alpha / k_max). Simple and conservative: the chance
of any false IMPROVED (or HELD, or REGRESSED) over all looks is at most alpha, which every
item reports as its false-accept bound. The interval uses confidence 1 - 2 * alpha_look,
so each of its tails matches the one-sided test.

A decided IMPROVED or HELD is kept at later looks (pass ``previous``): stopping as soon
as a boundary is crossed is what the Bonferroni bound covers. Failures are never kept,
each look re-tests them. There is no weighted score: accept needs every item to pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from scipy import stats

from cleanloop.loop.base.errors import GateError
from cleanloop.loop.gate.plan import DEFAULT_PLAN, SequentialPlan
from cleanloop.loop.gate.power import (
    MAX_ADVICE_RUNS,
    STOP_POWER,
    guard_detectable,
    guard_runs_needed,
    target_detectable,
    target_runs_needed,
)
from cleanloop.loop.gate.stats import (
    Floats,
    finite,
    hodges_lehmann,
    log_floored,
    mwu_pvalue,
    pooled_cv,
    summarize,
)
from cleanloop.loop.gate.types import (
    FAILING,
    PASSING,
    Classification,
    Comparison,
    GateDecision,
    GateInput,
    Outcome,
    Role,
)

__all__ = ["DEFAULT_PLAN", "FAILING", "PASSING", "Classification", "Comparison", "GateDecision",
           "GateInput", "Outcome", "Role", "SequentialPlan", "advice", "compare", "decide"]


def _check_input(item: GateInput) -> None:
    if item.role not in ("target", "guard"):
        raise GateError(f"{item.source}: role must be target or guard, not {item.role!r}")
    shrinks = (item.role == "target") != item.higher_is_better  # bound is 1 - required
    top = 1.0 if shrinks else math.inf
    if not (math.isfinite(item.required) and 0.0 <= item.required < top):
        raise GateError(f"{item.source}: required change {item.required!r} out of range")


def compare(item: GateInput, alpha_look: float, final: bool, look_index: int = 0,
            alpha: float | None = None) -> Comparison:
    """Classify one item at one look (see module docstring for the rules).

    `alpha` is the plan's overall alpha (the false-accept bound reported); default alpha_look.
    """
    _check_input(item)
    base, dropped_b = finite(item.baseline)
    cand, dropped_c = finite(item.candidate)
    sb, sc = summarize(base), summarize(cand)
    up = (item.role == "guard") != item.higher_is_better  # bound above 1?
    threshold = 1.0 + item.required if up else 1.0 - item.required
    nan = math.nan
    dropped = f" ({dropped_b + dropped_c} NaN/inf values dropped)" if dropped_b or dropped_c \
        else ""
    shell = Comparison(
        sli=item.sli, source=item.source, role=item.role,
        classification=Classification.MISSING, n_baseline=int(base.size),
        n_candidate=int(cand.size), median_baseline=sb.median, median_candidate=sc.median,
        iqr_baseline=(sb.q1, sb.q3), iqr_candidate=(sc.q1, sc.q3), ratio=nan, ci_low=nan,
        ci_high=nan, p_value=nan, alpha_look=alpha_look, threshold=threshold, ok=False,
        reason=f"no data: {base.size} baseline and {cand.size} candidate values{dropped}",
        higher_is_better=item.higher_is_better, n_dropped_baseline=dropped_b,
        n_dropped_candidate=dropped_c, look_index=look_index)
    if base.size == 0 or cand.size == 0:
        return shell
    if item.per_run or not np.any(base):
        cls, reason = _classify_per_run(item, base, cand)
        return replace(shell, classification=cls, ok=cls in PASSING, reason=reason + dropped,
                       judged="per_run")
    try:
        log_b, log_c = log_floored(base, cand)
    except GateError as exc:
        raise GateError(f"{item.source}: {exc}") from exc
    # the candidate is smaller when it improves a lower-is-better SLI / worsens the other kind
    smaller = (item.role == "target") != item.higher_is_better
    p = mwu_pvalue(log_c, log_b, "less" if smaller else "greater")
    ratio, lo, hi = (math.exp(v) for v in hodges_lehmann(log_b, log_c, alpha_look))
    if item.role == "target":
        cls, reason = _classify_target(item.higher_is_better, ratio, lo, hi, p, alpha_look,
                                       threshold, final)
    else:
        cls, reason = _classify_guard(item.higher_is_better, ratio, lo, hi, p, alpha_look,
                                      threshold, final)
    cv = pooled_cv(base, cand)
    power = _power(item, cv, ratio, alpha_look, min(base.size, cand.size))
    return replace(shell, classification=cls, ratio=ratio, ci_low=lo, ci_high=hi, p_value=p,
                   ok=cls in PASSING, reason=reason + dropped, cv=cv, detectable=power[0],
                   runs_needed=power[1],
                   false_accept_bound=alpha_look if alpha is None else alpha)


def _power(item: GateInput, cv: float, ratio: float, alpha_look: float,
           n: int) -> tuple[float, int | None]:
    """(smallest decidable effect at n, runs per side needed) at the measured CV."""
    if not math.isfinite(cv):
        return math.nan, None
    higher = item.higher_is_better
    if item.role == "guard":
        return (guard_detectable(cv, n, alpha_look, higher_is_better=higher),
                guard_runs_needed(cv, item.required, alpha_look, higher_is_better=higher))
    return (target_detectable(cv, n, alpha_look, item.required, higher_is_better=higher),
            target_runs_needed(cv, item.required, alpha_look, _assumed_effect(item, ratio),
                               higher_is_better=higher))


def _assumed_effect(item: GateInput, ratio: float) -> float:
    """The best case for a target: its observed improvement, or 1.5x the required one."""
    seen = ratio - 1.0 if item.higher_is_better else 1.0 - ratio
    best = max(seen if math.isfinite(seen) else 0.0, 1.5 * item.required)
    return best if item.higher_is_better else min(0.95, best)


def advice(item: GateInput, comp: Comparison, max_runs: int | None) -> str:
    """What it would take to decide an undecided ratio item."""
    if comp.runs_needed is None or not math.isfinite(comp.cv):
        return "too few runs to estimate its noise"
    n = comp.runs_needed
    needs = f"needs about {n} runs per side" if n < MAX_ADVICE_RUNS else \
        "cannot be decided by more runs"
    cap = min(comp.n_baseline, comp.n_candidate) if max_runs is None else max_runs
    higher = item.higher_is_better
    if item.role == "guard":
        tol = guard_detectable(comp.cv, cap, comp.alpha_look, higher_is_better=higher)
        return f"{needs} at CV {comp.cv:.1%} (80% power if unchanged), or a tolerance of " \
               f"at least {_pct(tol)} for {cap} runs"
    effect = _assumed_effect(item, comp.ratio)
    least = target_detectable(comp.cv, cap, comp.alpha_look, item.required,
                              higher_is_better=higher)
    return f"{needs} at CV {comp.cv:.1%} to show a {effect:.0%} improvement (80% power); " \
           f"{cap} runs show only improvements of {_pct(least)} or more"


def _pct(x: float) -> str:
    return f"{x:.0%}" if math.isfinite(x) else "any size (too few runs for an interval)"


def _classify_per_run(item: GateInput, base: Floats, cand: Floats) -> tuple[Classification, str]:
    """0/1 SLIs and zero baselines: each candidate run against the baseline's runs."""
    higher = item.higher_is_better
    b_worst, b_best = (base.min(), base.max()) if higher else (base.max(), base.min())
    c_worst, c_best = (cand.min(), cand.max()) if higher else (cand.max(), cand.min())
    what = "0/1 value" if item.per_run else "count with a zero baseline"

    def better(a: float, b: float) -> bool:
        return bool(a > b) if higher else bool(a < b)

    runs = f"baseline {_span(base)}, candidate {_span(cand)} (judged per run: {what})"
    if item.role == "guard":
        if better(b_worst, c_worst):
            return Classification.REGRESSED, f"{runs}: a candidate run ({c_worst:g}) is " \
                                             f"worse than every baseline run"
        return Classification.HELD, f"{runs}: no candidate run is worse than the baseline's " \
                                    "worst"
    if not better(b_best, c_worst) and better(c_worst, b_worst):
        return Classification.IMPROVED, f"{runs}: every candidate run is at least as good as " \
                                        "the baseline's best"
    if not better(c_best, b_worst) and c_best == b_worst and b_worst == b_best:
        return Classification.NOT_IMPROVED, f"{runs}: nothing changed"
    return Classification.NOT_IMPROVED, f"{runs}: not every candidate run is at least as " \
                                        "good as the baseline's best and better than its worst"


def _span(values: Floats) -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


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
    if final:
        return Classification.INCONCLUSIVE, f"{ev}: a regression to {threshold:.3g} is not " \
                                             "ruled out by the last look"
    return Classification.UNKNOWN, f"{ev}: a regression to {threshold:.3g} is not ruled out " \
                                   "yet, more runs needed"


def _hopeless(item: GateInput, comp: Comparison, plan: SequentialPlan) -> bool:
    """Would this undecided item more likely than not stay undecided within the cap, even
    in its best case? (estimated from the measured noise)"""
    if comp.classification != Classification.UNKNOWN or not math.isfinite(comp.cv):
        return False
    higher, alpha = item.higher_is_better, plan.alpha_look
    if item.role == "guard":
        need = guard_runs_needed(comp.cv, item.required, alpha, STOP_POWER,
                                 higher_is_better=higher)
    else:
        # optimistic: the observed effect plus one standard error of it
        if not (comp.ci_low > 0.0 and math.isfinite(comp.ci_high)):
            return False  # no interval yet: nothing to estimate from
        width = math.log(comp.ci_high) - math.log(comp.ci_low)
        se = width / (2.0 * float(stats.norm.isf(alpha)))
        sign = 1.0 if higher else -1.0
        optimistic = math.exp(math.log(comp.ratio) + sign * se)
        need = target_runs_needed(comp.cv, item.required, alpha,
                                  _assumed_effect(item, optimistic), STOP_POWER,
                                  higher_is_better=higher)
    return need > plan.max_runs


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
        fresh = compare(item, plan.alpha_look, final, look_index, plan.alpha)
        old = kept.get(_key(item))
        if old is not None and fresh.classification not in FAILING:
            fresh = old
        elif _hopeless(item, fresh, plan):
            tip = f"cannot be decided within {plan.max_runs} runs per side: " \
                  f"{advice(item, fresh, plan.max_runs)}"
            fresh = replace(fresh, classification=Classification.INCONCLUSIVE, advice=tip,
                            reason=f"{fresh.reason.replace(', more runs needed', '')}; {tip}")
        elif fresh.classification == Classification.INCONCLUSIVE and fresh.judged == "ratio":
            tip = advice(item, fresh, plan.max_runs)
            fresh = replace(fresh, reason=f"{fresh.reason}; {tip}", advice=tip)
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
    if Classification.INCONCLUSIVE in by_class:
        when = "at the last look" if final else "within the cap of runs"
        return "inconclusive", f"undecided {when}: " + "; ".join(
            f"{c.source} ({c.advice})" if c.advice else c.source for c in comparisons
            if c.classification == Classification.INCONCLUSIVE)
    if Classification.UNKNOWN in by_class and not final:
        return "continue", "undecided: " + "; ".join(by_class[Classification.UNKNOWN])
    if not comparisons:
        return "accept", "no targets or guards to compare"
    if not any(c.role == "target" for c in comparisons):
        return "accept", "every guard held (the scenario has no targets)"
    return "accept", "every target improved and every guard held"
