"""How often does the sequential gate get it right? A Monte Carlo of
`cleanloop.loop.gate.rules.decide`.

    python bench/gate_quality.py [--trials 2000] [--seed 1] [--workers 2]

Each trial simulates one `verify`: per run, one value per SLI with lognormal run-to-run
noise of the given CV (2 % is a quiet machine, 15-25 % is a real app on a busy 2-core one),
revealed look by look under the plan `cleanloop verify` uses (looks at 6, 10, 14, 18 runs per
side, alpha 0.01 split evenly), keeping decided items between looks exactly as `verify` does
and stopping as soon as the gate decides (or finds an item it cannot decide within the cap).

* **targets**: one target ``improves >= 5%`` (ratio <= 0.95) whose true candidate/baseline
  ratio is 1.00 (no change), 1.05 (worse), 0.95, 0.90 or 0.80 (better).
* **guards**, the plan of a scenario with guards and no target: one guard
  ``regresses <= 10%`` whose true ratio is 1.00 (nothing changed: how often it can be held)
  or a regression of 1x, 1.5x or 2x its tolerance (1.10, 1.15, 1.20: a false accept).

INCONCLUSIVE is allowed and counted: it is never accepted. "decided" is the share of
verifies that ended ACCEPT or REJECT within 18 runs per side.

Targets (exit 1 if any fails): false accept <= 1 % for true ratios 1.00 and 1.05 at every
CV; a guard's false accept of a regression of twice its tolerance <= 1 % at every CV;
accept >= 95 % and false reject <= 5 % for a true 10 % improvement at CV 5 %.
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

from cleanloop.loop.gate.rules import DEFAULT_PLAN, GateDecision, GateInput, decide  # noqa: E402

CVS = (0.02, 0.05, 0.10, 0.15, 0.20)
TARGET_RATIOS = (1.00, 1.05, 0.95, 0.90, 0.80)
REQUIRED = 0.05
GUARD_TOLERANCE = 0.10
GUARD_MULTIPLES = (0.0, 1.0, 1.5, 2.0)   # true regression as a multiple of the tolerance
PLAN = DEFAULT_PLAN  # the plan `cleanloop verify` uses for targets and for guards alone
MEDIAN = 100.0  # ms, the baseline's true median


@dataclass(frozen=True)
class Cell:
    role: str
    cv: float
    ratio: float
    trials: int
    accept: int
    reject: int
    inconclusive: int
    runs: int

    def rate(self, count: int) -> float:
        return count / self.trials


def one_verify(rng: np.random.Generator, role: str, cv: float, ratio: float,
               required: float) -> GateDecision:
    """One sequential verify of one item: draw all runs up front, reveal them look by look."""
    sigma = math.sqrt(math.log1p(cv * cv))
    n = PLAN.max_runs
    base = MEDIAN * np.exp(rng.normal(0.0, sigma, n))
    cand = MEDIAN * ratio * np.exp(rng.normal(0.0, sigma, n))
    decision: GateDecision | None = None
    look = 0
    while (want := PLAN.next_n(decision)) is not None:
        item = GateInput("latency.p95", f"latency.p95 {role}", "target" if role == "target"
                         else "guard", required, base[:want], cand[:want])
        decision = decide([item], PLAN, look, previous=decision)
        look += 1
    assert decision is not None
    return decision


def run_cell(role: str, cv: float, ratio: float, trials: int, seed: int,
             required: float) -> Cell:
    rng = np.random.default_rng(seed)
    counts = {"accept": 0, "reject": 0, "inconclusive": 0}
    runs = 0
    for _ in range(trials):
        d = one_verify(rng, role, cv, ratio, required)
        counts[d.outcome] += 1
        runs += min(c.n_baseline for c in d.comparisons)
    return Cell(role, cv, ratio, trials, counts["accept"], counts["reject"],
                counts["inconclusive"], runs)


def label(ratio: float) -> str:
    if ratio == 1.0:
        return "1.00 no change"
    word = "worse" if ratio > 1 else "better"
    return f"{ratio:.2f} {abs(ratio - 1) * 100:.0f}% {word}"


def print_table(title: str, cells: list[Cell], names: dict[float, str]) -> None:
    print(title)
    print(f"{'CV':>4} | {'true ratio':<24} | {'accept':>7} | {'reject':>7} | {'inconcl.':>8} | "
          f"{'decided':>7} | {'runs/side':>9}")
    print("-" * 86)
    for c in cells:
        decided = c.rate(c.accept + c.reject)
        print(f"{c.cv:>4.0%} | {names.get(c.ratio, label(c.ratio)):<24} | "
              f"{c.rate(c.accept):>7.1%} | {c.rate(c.reject):>7.1%} | "
              f"{c.rate(c.inconclusive):>8.1%} | {decided:>7.1%} | {c.runs / c.trials:>9.1f}")


def check_targets(targets: list[Cell], guards: list[Cell], tolerance: float) -> bool:
    ok = True
    print("\ntargets:")

    def verdict(good: bool, text: str) -> None:
        nonlocal ok
        ok &= good
        print(f"  {'PASS' if good else 'FAIL'} {text}")

    for c in targets:
        if c.ratio >= 1.0:
            verdict(c.rate(c.accept) <= 0.01, f"target false accept {c.rate(c.accept):.2%} <= 1% "
                    f"(CV {c.cv:.0%}, true ratio {c.ratio:.2f})")
        if c.ratio == 0.90 and c.cv == 0.05:
            verdict(c.rate(c.reject) <= 0.05 and c.rate(c.accept) >= 0.95,
                    f"10% better at CV 5%: false reject {c.rate(c.reject):.2%} <= 5%, accept "
                    f"{c.rate(c.accept):.1%} >= 95%")
    for c in guards:
        if math.isclose(c.ratio, 1.0 + 2 * tolerance):
            verdict(c.rate(c.accept) <= 0.01, f"guard false accept of a regression of twice "
                    f"the tolerance {c.rate(c.accept):.2%} <= 1% (CV {c.cv:.0%})")
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
    tol = args.guard_tolerance
    grid = [("target", cv, r, args.required) for cv in CVS for r in TARGET_RATIOS]
    grid += [("guard", cv, 1.0 + m * tol, tol) for cv in CVS for m in GUARD_MULTIPLES]
    seeds = np.random.SeedSequence(args.seed).generate_state(len(grid)).tolist()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_cell, role, cv, r, args.trials, s, req)
                   for (role, cv, r, req), s in zip(grid, seeds, strict=True)]
        cells = [f.result() for f in futures]
    targets = [c for c in cells if c.role == "target"]
    guards = [c for c in cells if c.role == "guard"]
    print(f"plan: looks at {PLAN.looks} runs per side, alpha {PLAN.alpha} "
          f"(alpha per look {PLAN.alpha_look:.4f}), {args.trials} trials per cell\n")
    print_table(f"target: improves >= {args.required:.0%} (ratio <= {1 - args.required:.2f})",
                targets, {})
    names = {1.0 + m * tol: f"{1.0 + m * tol:.2f} " + ("no change" if m == 0 else
                                                        f"{m:g}x tolerance")
             for m in GUARD_MULTIPLES}
    print()
    print_table(f"guard alone: regresses <= {tol:.0%} (accept = held; at 1x-2x the tolerance "
                "every accept is false)", guards, names)
    ok = check_targets(targets, guards, tol)
    print(f"\n{len(grid)} cells x {args.trials} trials in "
          f"{time.perf_counter() - started:.1f} s with {args.workers} workers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
