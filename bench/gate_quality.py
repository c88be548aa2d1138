"""How often does the sequential gate get it right? A Monte Carlo of `loop.gate.decide`.

    python bench/gate_quality.py [--trials 2000] [--seed 1] [--workers 2]

Each trial simulates one `verify`: per run, one value per SLI with lognormal run-to-run
noise of the given CV. Two SLIs:

* the target ``improves >= 5%`` (threshold ratio 0.95), whose true candidate/baseline
  ratio is the cell's ratio: 1.00 (no change), 1.05 (worse), 0.95, 0.90, 0.80 (better);
* a guard ``regresses <= 5%`` on a second, unchanged SLI (true ratio 1.00), so guard
  false-rejects show up.

The gate runs the plan `cleanloop verify` uses (looks at 6, 10, 14, 18 runs per side,
alpha 0.01 split evenly), keeping decided items between looks exactly as `cleanloop verify`
does, and stops as soon as it decides. Required 5% is the largest round figure for which a
true 10% improvement at CV 5% still passes >= 95% of the time: the estimate must clear
0.95, and with 10 runs per side its spread is about 2.3% at that CV.

The guard holds early when its interval rules the regression out or its estimate sits in
the better half of the tolerance; otherwise it asks for more runs, up to the cap. A second
table shows how often a guard catches a real regression of the guarded SLI.

Targets (exit 1 if any fails): false accept <= 1% for true ratios 1.00 and 1.05 at every
CV; false reject <= 5% and accept >= 95% for a true 10% improvement at CV 5%.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loop.gate import DEFAULT_PLAN, Classification, GateDecision, GateInput, decide  # noqa: E402

CVS = (0.02, 0.05, 0.10)
RATIOS = (1.00, 1.05, 0.95, 0.90, 0.80)
REQUIRED = 0.05
GUARD_TOLERANCE = 0.05
PLAN = DEFAULT_PLAN  # the plan `cleanloop verify` uses
MEDIAN = 100.0  # ms, the baseline's true median


@dataclass(frozen=True)
class Cell:
    cv: float
    ratio: float
    trials: int
    accept: int
    reject: int
    inconclusive: int
    guard_reject: int
    runs: int

    def rate(self, count: int) -> float:
        return count / self.trials


def one_verify(
    rng: np.random.Generator, cv: float, ratio: float, required: float, tolerance: float,
    guard_ratio: float = 1.0,
) -> GateDecision:
    """One sequential verify: draw all runs up front, reveal them look by look."""
    sigma = math.sqrt(math.log1p(cv * cv))
    n = PLAN.max_runs
    noise = rng.normal(0.0, sigma, size=(4, n))
    target_b, target_c = MEDIAN * np.exp(noise[0]), MEDIAN * ratio * np.exp(noise[1])
    guard_b, guard_c = MEDIAN * np.exp(noise[2]), MEDIAN * guard_ratio * np.exp(noise[3])
    decision: GateDecision | None = None
    look = 0
    while (want := PLAN.next_n(decision)) is not None:
        items = [
            GateInput("latency.p95", "latency.p95 improves", "target", required,
                      target_b[:want], target_c[:want]),
            GateInput("other.p95", "other.p95 regresses", "guard", tolerance,
                      guard_b[:want], guard_c[:want]),
        ]
        decision = decide(items, PLAN, look, previous=decision)
        look += 1
    assert decision is not None
    return decision


def run_cell(
    cv: float, ratio: float, trials: int, seed: int, required: float, tolerance: float
) -> Cell:
    rng = np.random.default_rng(seed)
    counts = {"accept": 0, "reject": 0, "inconclusive": 0}
    guard_reject = runs = 0
    for _ in range(trials):
        d = one_verify(rng, cv, ratio, required, tolerance)
        counts[d.outcome] += 1
        runs += PLAN.looks[d.look_index]
        guard_reject += any(c.classification == Classification.REGRESSED for c in d.comparisons)
    return Cell(cv, ratio, trials, counts["accept"], counts["reject"], counts["inconclusive"],
                guard_reject, runs)


GUARD_REGRESSIONS = (1.10, 1.20, 1.50)


def run_guard_cell(cv: float, guard_ratio: float, trials: int, seed: int, required: float,
                   tolerance: float) -> tuple[float, float, float, float]:
    """A real 20% improvement of the target while the guarded SLI truly regresses.

    Returns (cv, guard ratio, share of verifies that caught it, share wrongly accepted)."""
    rng = np.random.default_rng(seed)
    caught = accepted = 0
    for _ in range(trials):
        d = one_verify(rng, cv, 0.80, required, tolerance, guard_ratio)
        caught += any(c.classification == Classification.REGRESSED for c in d.comparisons)
        accepted += d.outcome == "accept"
    return cv, guard_ratio, caught / trials, accepted / trials


def print_guard_table(rows: list[tuple[float, float, float, float]], tolerance: float) -> None:
    print(f"\nguard power: target truly 20% better, guarded SLI truly worse, "
          f"guard regresses <= {tolerance:.0%}")
    print(f"{'CV':>4} | {'guard truly':<12} | {'caught':>7} | {'accepted anyway':>15}")
    print("-" * 48)
    for cv, ratio, caught, accepted in rows:
        print(f"{cv:>4.0%} | {label(ratio):<12} | {caught:>7.1%} | {accepted:>15.1%}")


def label(ratio: float) -> str:
    if ratio == 1.0:
        return "1.00 no change"
    word = "worse" if ratio > 1 else "better"
    return f"{ratio:.2f} {abs(ratio - 1) * 100:.0f}% {word}"


def print_table(cells: list[Cell], required: float, tolerance: float) -> None:
    print(f"target: improves >= {required:.0%} (ratio <= {1 - required:.2f}); "
          f"guard: unchanged SLI, regresses <= {tolerance:.0%}; plan looks "
          f"{PLAN.looks}, alpha {PLAN.alpha} (alpha per look {PLAN.alpha_look:.4f})")
    print(f"{'CV':>4} | {'true ratio':<15} | {'accept':>7} | {'reject':>7} | "
          f"{'inconcl.':>8} | {'guard rej':>9} | {'runs/side':>9}")
    print("-" * 78)
    for c in cells:
        print(f"{c.cv:>4.0%} | {label(c.ratio):<15} | {c.rate(c.accept):>7.1%} | "
              f"{c.rate(c.reject):>7.1%} | {c.rate(c.inconclusive):>8.1%} | "
              f"{c.rate(c.guard_reject):>9.2%} | {c.runs / c.trials:>9.1f}")


def check_targets(cells: list[Cell]) -> bool:
    ok = True
    print("\ntargets:")
    for c in cells:
        if c.ratio >= 1.0:
            good = c.rate(c.accept) <= 0.01
            ok &= good
            print(f"  {'PASS' if good else 'FAIL'} false accept {c.rate(c.accept):.2%} <= 1% "
                  f"(CV {c.cv:.0%}, true ratio {c.ratio:.2f})")
        if c.ratio == 0.90 and c.cv == 0.05:
            good = c.rate(c.reject) <= 0.05 and c.rate(c.accept) >= 0.95
            ok &= good
            print(f"  {'PASS' if good else 'FAIL'} 10% better at CV 5%: false reject "
                  f"{c.rate(c.reject):.2%} <= 5%, accept {c.rate(c.accept):.1%} >= 95%")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000, help="trials per cell")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--required", type=float, default=REQUIRED,
                        help="the target's required improvement (fraction)")
    parser.add_argument("--guard-tolerance", type=float, default=GUARD_TOLERANCE,
                        help="the guard's tolerated regression (fraction)")
    args = parser.parse_args(argv)
    grid = [(cv, ratio) for cv in CVS for ratio in RATIOS]
    seeds = np.random.SeedSequence(args.seed).generate_state(len(grid)).tolist()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_cell, cv, r, args.trials, s, args.required,
                               args.guard_tolerance)
                   for (cv, r), s in zip(grid, seeds, strict=True)]
        cells = [f.result() for f in futures]
        guard_grid = [(cv, g) for cv in CVS for g in GUARD_REGRESSIONS]
        guard_seeds = np.random.SeedSequence(args.seed + 1).generate_state(
            len(guard_grid)).tolist()
        guard_futures = [pool.submit(run_guard_cell, cv, g, args.trials, s, args.required,
                                     args.guard_tolerance)
                         for (cv, g), s in zip(guard_grid, guard_seeds, strict=True)]
        guard_rows = [f.result() for f in guard_futures]
    print_table(cells, args.required, args.guard_tolerance)
    print_guard_table(guard_rows, args.guard_tolerance)
    ok = check_targets(cells)
    print(f"\n{len(grid) + len(guard_rows)} cells x {args.trials} trials in "
          f"{time.perf_counter() - started:.1f} s with {args.workers} workers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
