from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats

from cleanloop.loop.base.errors import GateError
from cleanloop.loop.gate.rules import (
    DEFAULT_PLAN,
    Classification,
    GateDecision,
    GateInput,
    SequentialPlan,
    compare,
    decide,
)
from cleanloop.loop.gate.stats import (
    calibrate,
    ci_rank,
    coefficient_of_variation,
    hodges_lehmann,
    mwu_pvalue,
    runs_needed,
    summarize,
    u_null_cdf,
)

C = Classification
ONE_LOOK = SequentialPlan(initial_runs=5, step=5, max_runs=5, alpha=0.01)
PLAN = SequentialPlan(initial_runs=5, step=5, max_runs=20)  # looks at 5, 10, 15, 20


def target(b: Sequence[float], c: Sequence[float], required: float = 0.05,
           higher: bool = False) -> GateInput:
    return GateInput("lat.p95", "lat.p95 improves", "target", required, b, c, higher)


def guard(b: Sequence[float], c: Sequence[float], tolerance: float = 0.05,
          higher: bool = False) -> GateInput:
    return GateInput("other.p95", "other.p95 regresses", "guard", tolerance, b, c, higher)


def lognormal(rng: np.random.Generator, median: float, cv: float, n: int) -> list[float]:
    sigma = math.sqrt(math.log1p(cv * cv))
    return [float(x) for x in median * np.exp(rng.normal(0.0, sigma, n))]


def run_sequential(items_at: dict[int, list[GateInput]], plan: SequentialPlan) -> GateDecision:
    decision: GateDecision | None = None
    look = 0
    while (n := plan.next_n(decision)) is not None:
        decision = decide(items_at[n], plan, look, previous=decision)
        look += 1
    assert decision is not None
    return decision


# --- statistics against hand computation and scipy -------------------------------------

def test_hodges_lehmann_ratio_is_the_median_pairwise_ratio() -> None:
    # ratios c/b sorted: 8/14 9/14 8/12 9/12 11/14 8/10 9/10 11/12 11/10 -> median 11/14
    b, c = np.log([10.0, 12.0, 14.0]), np.log([8.0, 9.0, 11.0])
    shift = hodges_lehmann(b, c, tail=0.1)
    assert math.exp(shift.estimate) == pytest.approx(11 / 14)
    # P(U <= 1) = 2/20 = 0.1 -> k = 2 -> [d_(2), d_(8)]
    assert math.exp(shift.low) == pytest.approx(9 / 14)
    assert math.exp(shift.high) == pytest.approx(11 / 12)
    wide = hodges_lehmann(b, c, tail=0.05)  # k = 1: the extreme differences
    assert (math.exp(wide.low), math.exp(wide.high)) == pytest.approx((8 / 14, 11 / 10))
    assert hodges_lehmann(b, c, tail=0.04).low == -math.inf


def test_mann_whitney_p_value_hand_computed_and_scipy() -> None:
    b, c = np.array([10.0, 12.0, 14.0]), np.array([8.0, 9.0, 11.0])
    # U(c > b) = 1 (11 > 10); P(U <= 1) = 2 of C(6,3) = 20 arrangements
    assert mwu_pvalue(c, b, "less") == pytest.approx(0.1)
    ref = stats.mannwhitneyu(c, b, alternative="less", method="exact").pvalue
    assert mwu_pvalue(c, b, "less") == pytest.approx(ref)
    assert mwu_pvalue(c, b, "greater") == pytest.approx(0.95)


def test_u_null_distribution_matches_enumeration() -> None:
    m, n = 3, 4
    counts = np.zeros(m * n + 1)
    for xs in itertools.combinations(range(m + n), m):
        counts[sum(1 for x in xs for y in set(range(m + n)) - set(xs) if x > y)] += 1
    assert u_null_cdf(m, n) == pytest.approx(np.cumsum(counts) / counts.sum())
    assert ci_rank(3, 3, 0.05) == 1 and ci_rank(3, 3, 0.1) == 2 and ci_rank(3, 3, 0.04) == 0


def test_ci_rank_normal_approximation_continues_the_exact_one() -> None:
    exact, approx = ci_rank(50, 50, 0.0025), ci_rank(51, 51, 0.0025)
    assert 0 < exact < approx < exact + 120  # 51x51 has 101 more pairs


def test_ties_use_the_exact_permutation_p_value() -> None:
    c, b = np.full(5, math.log(5.0)), np.full(5, math.log(10.0))
    # one arrangement of C(10,5) = 252 is this extreme; the normal approximation says 0.002
    assert mwu_pvalue(c, b, "less") == pytest.approx(1 / 252)
    tied = np.log([1.0, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7])
    assert 0.0 < mwu_pvalue(tied[:6], tied[6:], "less") < 0.01


def test_hl_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(3)
    tail, misses, trials = 0.025, 0, 300
    for _ in range(trials):
        b = np.log(lognormal(rng, 100.0, 0.1, 10))
        c = np.log(lognormal(rng, 90.0, 0.1, 10))
        s = hodges_lehmann(b, c, tail)
        misses += not s.low <= math.log(0.9) <= s.high
    assert misses / trials < 2 * tail + 0.04


# --- degenerate data ---------------------------------------------------------------------

def test_equal_constants_neither_improve_nor_regress() -> None:
    d = decide([target([7.0] * 5, [7.0] * 5), guard([7.0] * 5, [7.0] * 5)], ONE_LOOK, 0)
    t, g = d.comparisons
    assert t.classification == C.NOT_IMPROVED and t.ratio == 1.0 and t.p_value == 1.0
    assert g.classification == C.HELD
    assert d.outcome == "reject"
    early = decide([target([7.0] * 5, [7.0] * 5)], PLAN, 0)
    assert early.comparisons[0].classification == C.UNKNOWN and early.outcome == "continue"


def test_different_constants_improve() -> None:
    d = decide([target([10.0] * 5, [5.0] * 5)], ONE_LOOK, 0)
    (t,) = d.comparisons
    assert t.classification == C.IMPROVED and t.ratio == pytest.approx(0.5)
    assert t.p_value == pytest.approx(1 / 252) and d.outcome == "accept"


def test_one_run_per_side_never_decides() -> None:
    early = decide([target([10.0], [5.0])], PLAN, 0)
    assert early.comparisons[0].classification == C.UNKNOWN
    last = decide([target([10.0], [5.0]), guard([10.0], [50.0])], PLAN, 3)
    # one run cannot rule a regression out: never held for lack of evidence
    assert [c.classification for c in last.comparisons] == [C.INCONCLUSIVE, C.INCONCLUSIVE]
    assert last.outcome == "inconclusive"
    assert "too few runs to estimate its noise" in last.reason


@pytest.mark.parametrize(("b", "c"), [([], []), ([], [1.0, 2.0]), ([1.0, 2.0], [])])
def test_empty_side_is_missing_and_rejects(b: list[float], c: list[float]) -> None:
    for look in range(PLAN.k_max):
        d = decide([target(b, c), guard(b, c)], PLAN, look)
        assert all(x.classification == C.MISSING and not x.ok for x in d.comparisons)
        assert d.outcome == "reject"


def test_nans_are_dropped_and_counted() -> None:
    nan = float("nan")
    t = compare(target([10.0, nan, 10.0, 10.0, 10.0, 10.0], [5.0] * 5 + [math.inf]), 0.01,
                final=True)
    assert (t.n_baseline, t.n_dropped_baseline) == (5, 1)
    assert (t.n_candidate, t.n_dropped_candidate) == (5, 1)
    assert t.classification == C.IMPROVED and "2 NaN/inf" in t.reason
    assert compare(target([nan] * 3, [1.0]), 0.01, True).classification == C.MISSING


def test_zeros_are_floored_and_negative_values_refused() -> None:
    t = compare(target([3.0, 2.0, 4.0, 3.0, 5.0], [0.0] * 5), 0.01, final=True)
    assert t.classification == C.IMPROVED and 0 < t.ratio < 1e-5
    zeros = compare(target([0.0] * 5, [0.0] * 5), 0.01, True)
    assert math.isnan(zeros.ratio) and zeros.classification == C.NOT_IMPROVED
    with pytest.raises(GateError, match="negative"):
        compare(target([1.0, -1.0], [1.0]), 0.01, True)


# --- decisions ---------------------------------------------------------------------------

def test_sequential_continues_then_accepts() -> None:
    rng = np.random.default_rng(7)
    b, c = lognormal(rng, 100.0, 0.05, 20), lognormal(rng, 85.0, 0.05, 20)
    gb, gc = lognormal(rng, 50.0, 0.02, 20), lognormal(rng, 50.0, 0.02, 20)
    first = decide([target(b[:5], c[:5]), guard(gb[:5], gc[:5])], PLAN, 0)
    assert first.outcome == "continue" and PLAN.next_n(first) == 10
    second = decide([target(b[:10], c[:10]), guard(gb[:10], gc[:10])], PLAN, 1, first)
    assert second.outcome == "accept" and PLAN.next_n(second) is None
    assert second.comparisons[0].ratio == pytest.approx(0.85, abs=0.05)


def test_big_improvement_is_accepted() -> None:
    rng = np.random.default_rng(11)
    b, c = lognormal(rng, 200.0, 0.10, 20), lognormal(rng, 100.0, 0.10, 20)
    d = run_sequential({n: [target(b[:n], c[:n], 0.10)] for n in PLAN.looks}, PLAN)
    assert d.outcome == "accept"
    (t,) = d.comparisons
    assert t.ci_high < 0.9 and t.p_value < PLAN.alpha_look and t.threshold == 0.9


def test_no_change_is_never_accepted() -> None:
    rng = np.random.default_rng(5)
    outcomes = set()
    for _ in range(40):
        b, c = lognormal(rng, 100.0, 0.05, 20), lognormal(rng, 100.0, 0.05, 20)
        d = run_sequential({n: [target(b[:n], c[:n], 0.05)] for n in PLAN.looks}, PLAN)
        outcomes.add(d.outcome)
    assert outcomes <= {"reject", "inconclusive"} and "reject" in outcomes


def test_guard_regression_rejects() -> None:
    rng = np.random.default_rng(13)
    b, c = lognormal(rng, 100.0, 0.05, 20), lognormal(rng, 80.0, 0.05, 20)
    gb, gc = lognormal(rng, 100.0, 0.05, 20), lognormal(rng, 130.0, 0.05, 20)
    d = run_sequential({n: [target(b[:n], c[:n]), guard(gb[:n], gc[:n])] for n in PLAN.looks},
                       PLAN)
    assert d.outcome == "reject"
    g = d.comparisons[1]
    assert g.classification == C.REGRESSED and g.ratio > 1.05 and g.threshold == 1.05


def test_a_guard_holds_only_when_its_interval_rules_the_regression_out() -> None:
    rng = np.random.default_rng(17)
    gb, gc = lognormal(rng, 100.0, 0.02, 18), lognormal(rng, 100.0, 0.02, 18)
    held = decide([guard(gb, gc)], PLAN, PLAN.k_max - 1).comparisons[0]
    assert held.classification == C.HELD and held.ci_high < held.threshold
    # an estimate inside the tolerance with an interval that reaches past it is not held
    noisy = lognormal(rng, 100.0, 0.30, 18)
    near = compare(guard(noisy, [v * 1.01 for v in noisy[::-1]]), 0.0025, final=False)
    assert near.ratio == pytest.approx(1.01) and near.ci_high > 1.05
    assert near.classification == C.UNKNOWN
    last = compare(guard(noisy, [v * 1.01 for v in noisy[::-1]]), 0.0025, final=True)
    assert last.classification == C.INCONCLUSIVE and not last.ok


def test_a_noisy_guard_stops_early_and_says_what_it_needs() -> None:
    rng = np.random.default_rng(41)
    gb, gc = lognormal(rng, 100.0, 0.20, 6), lognormal(rng, 100.0, 0.20, 6)
    d = decide([guard(gb, gc, tolerance=0.10)], PLAN, 0)
    (g,) = d.comparisons
    assert d.outcome == "inconclusive" and PLAN.next_n(d) is None
    assert g.classification == C.INCONCLUSIVE and g.cv == pytest.approx(0.2, abs=0.12)
    assert g.runs_needed is not None and g.runs_needed > PLAN.max_runs
    assert f"needs about {g.runs_needed} runs per side at CV" in d.reason
    assert "or a tolerance of at least" in d.reason
    assert g.false_accept_bound == PLAN.alpha and g.detectable > 0.10
    # the same noise with a tolerance it can prove keeps running instead
    wide = decide([guard(gb, gc, tolerance=0.60)], PLAN, 0)
    assert wide.outcome in ("continue", "accept")


def test_guard_false_accepts_at_cv_15_with_a_regression_of_twice_the_tolerance() -> None:
    """Issue 8 (1): CV 15 %, true ratio 1.20, guard 10 %: accepted in <= 0.5 % of 2,000."""
    rng = np.random.default_rng(8)
    sigma = math.sqrt(math.log1p(0.15**2))
    accepted = 0
    for _ in range(2000):
        b = [float(x) for x in 100.0 * np.exp(rng.normal(0.0, sigma, PLAN.max_runs))]
        c = [float(x) for x in 120.0 * np.exp(rng.normal(0.0, sigma, PLAN.max_runs))]
        d = run_sequential({n: [guard(b[:n], c[:n], tolerance=0.10)] for n in PLAN.looks},
                           PLAN)
        accepted += d.outcome == "accept"
    assert accepted / 2000 <= 0.005


def test_zero_and_binary_values_are_judged_per_run_never_by_a_ratio() -> None:
    fixed = GateInput("step.ok", "step.ok", "guard", 0.10, [0.0] * 6, [1.0] * 6,
                      higher_is_better=True, per_run=True)
    g = compare(fixed, 0.0025, final=False)
    assert g.classification == C.HELD and g.judged == "per_run" and math.isnan(g.ratio)
    broke = GateInput("step.ok", "step.ok", "guard", 0.10, [1.0] * 6, [1.0] * 5 + [0.0],
                      higher_is_better=True, per_run=True)
    assert compare(broke, 0.0025, final=False).classification == C.REGRESSED
    # a count that is 0 in every baseline run: any candidate error is a regression
    errors = guard([0.0] * 6, [0.0] * 5 + [2.0])
    e = compare(errors, 0.0025, final=False)
    assert e.classification == C.REGRESSED and math.isnan(e.ratio) and "zero baseline" in e.reason
    assert compare(guard([0.0] * 6, [0.0] * 6), 0.0025, False).classification == C.HELD
    data = json.loads(json.dumps(e.as_dict(), allow_nan=False))
    assert data["ratio"] is None and data["judged"] == "per_run"
    assert data["false_accept_bound"] is None
    nothing = compare(target([0.0] * 6, [0.0] * 6), 0.0025, final=False)
    assert nothing.classification == C.NOT_IMPROVED


def test_higher_is_better() -> None:
    rng = np.random.default_rng(19)
    b, up = lognormal(rng, 1000.0, 0.03, 10), lognormal(rng, 1300.0, 0.03, 10)
    down = lognormal(rng, 700.0, 0.03, 10)
    t = compare(target(b, up, 0.10, higher=True), 0.0025, final=False)
    assert t.classification == C.IMPROVED and t.threshold == pytest.approx(1.10)
    assert t.ratio == pytest.approx(1.3, abs=0.05)
    worse = compare(target(b, down, 0.10, higher=True), 0.0025, final=False)
    assert worse.classification == C.NOT_IMPROVED
    g = compare(guard(b, down, 0.05, higher=True), 0.0025, final=False)
    assert g.classification == C.REGRESSED and g.threshold == pytest.approx(0.95)
    assert compare(guard(b, up, 0.05, higher=True), 0.0025, False).classification == C.HELD


def test_decided_items_are_kept_but_failures_are_not() -> None:
    rng = np.random.default_rng(23)
    b, c = lognormal(rng, 100.0, 0.02, 10), lognormal(rng, 80.0, 0.02, 10)
    gb = lognormal(rng, 100.0, 0.05, 10)
    gc = [v * 1.06 for v in gb[::-1]]  # close to the 10% tolerance, far from significant
    first = decide([target(b, c), guard(gb, gc, tolerance=0.10)], PLAN, 1)
    assert [x.classification for x in first.comparisons] == [C.IMPROVED, C.UNKNOWN]
    # the target's fresh evidence is now weak, but it was decided at look 1
    weak = decide([target(b[:3], c[:3]), guard(gb, gc, tolerance=0.10)], PLAN, 2, first)
    assert weak.comparisons[0].classification == C.IMPROVED
    assert weak.comparisons[0].look_index == 1 and weak.outcome == "continue"
    lost = decide([target([], c), guard(gb, gc, tolerance=0.10)], PLAN, 2, first)
    assert lost.comparisons[0].classification == C.MISSING and lost.outcome == "reject"


def test_no_items_accepts_and_bad_input_raises() -> None:
    assert decide([], PLAN, 0).outcome == "accept"
    with pytest.raises(GateError):
        decide([target([1.0], [1.0])], PLAN, 4)
    with pytest.raises(GateError):
        decide([target([1.0], [1.0], required=1.0)], PLAN, 0)
    bad_role = GateInput("x", "x", "check", 0.1, [1.0], [1.0])  # type: ignore[arg-type]
    with pytest.raises(GateError):
        decide([bad_role], PLAN, 0)


def test_decision_json_is_strict() -> None:
    d = decide([target([10.0] * 5, [5.0] * 5), guard([], [1.0])], PLAN, 0)
    data = json.loads(json.dumps(d.as_dict(), allow_nan=False))
    t, g = data["comparisons"]
    assert data["outcome"] == "reject" and t["ci"] == [0.0, None]
    assert t["ratio"] == 0.5 and t["iqr_baseline"] == [10.0, 10.0]
    assert g["classification"] == "missing" and g["median_baseline"] is None


# --- plan, calibration, summaries ----------------------------------------------------------

def test_plan_looks_and_alpha_split() -> None:
    assert PLAN.looks == (5, 10, 15, 20) and PLAN.k_max == 4
    assert PLAN.alpha_look == pytest.approx(0.0025)
    assert PLAN.next_n(None) == 5
    assert SequentialPlan(initial_runs=4, step=5, max_runs=12).looks == (4, 9, 12)
    # one default plan: the dataclass's defaults are the plan verify uses (they once differed)
    assert SequentialPlan() == DEFAULT_PLAN
    assert DEFAULT_PLAN.looks == (6, 10, 14, 18)
    with pytest.raises(GateError):
        SequentialPlan(initial_runs=10, max_runs=5)
    with pytest.raises(GateError):
        SequentialPlan(alpha=0.6)


def test_runs_needed_formula_and_power() -> None:
    s = math.sqrt(math.log1p(0.05**2))
    se = -math.log(0.9) / (stats.norm.isf(0.0025) + stats.norm.isf(0.2))
    expected = math.ceil(2 * s * s * math.pi / 3 / se**2 + stats.norm.isf(0.0025) ** 2 / 4)
    n = runs_needed(0.05, 0.10, 0.0025, 0.8, required=0.05)
    assert n == expected
    assert runs_needed(0.10, 0.10, 0.0025) > n
    rng = np.random.default_rng(29)
    passed = sum(
        compare(target(lognormal(rng, 100.0, 0.05, n), lognormal(rng, 90.0, 0.05, n)),
                0.0025, final=True).classification == C.IMPROVED
        for _ in range(200)
    )
    assert passed / 200 > 0.7
    assert runs_needed(0.01, 0.5, 0.0025) == 6  # 1/C(10,5) > 0.0025 >= 1/C(12,6)
    with pytest.raises(GateError):
        runs_needed(0.05, 0.05, 0.01, required=0.05)


def test_calibration_of_an_aa_pair() -> None:
    rng = np.random.default_rng(31)
    a1, a2 = lognormal(rng, 100.0, 0.10, 100), lognormal(rng, 100.0, 0.10, 100)
    assert coefficient_of_variation(a1) == pytest.approx(0.10, abs=0.03)
    cal = calibrate(a1, a2)
    assert cal.cv == pytest.approx(0.10, abs=0.02) and cal.ratio == pytest.approx(1, abs=0.05)
    assert cal.p_value > 0.01 and cal.runs_needed(0.2, 0.0025) >= 2
    assert math.isnan(calibrate([], a2).ratio) and math.isnan(coefficient_of_variation([1.0]))


def test_summarize() -> None:
    s = summarize([4.0, 1.0, 3.0, 2.0, float("nan")])
    assert (s.median, s.q1, s.q3, s.worst) == (2.5, 1.75, 3.25, 4.0)
    assert summarize([4.0, 1.0], higher_is_better=True).worst == 1.0
    assert math.isnan(summarize([]).median)
