"""`cleanloop verify --calibrate`: an A/A run that measures each SLI's run-to-run noise.

The base revision runs on both sides (two worktrees, ABBA order, n runs each). For
every target and guard SLI it reports the coefficient of variation, the A/A ratio
with its p-value (a ratio far from 1 means the runs are not exchangeable), and for a
target `improves >= X%` the runs per side the gate would need to accept a true
improvement of 1.5 X with 80 % power, and for a guard `regresses <= Y` the runs per side
it needs to be held when nothing changed (cleanloop.loop.gate.power), with what the default cap of
runs could decide instead.
"""

from __future__ import annotations

import math
from typing import Any

from cleanloop.loop.gate.items import Item, expand, planned_items
from cleanloop.loop.gate.power import (
    guard_detectable,
    guard_runs_needed,
    target_detectable,
    target_runs_needed,
)
from cleanloop.loop.gate.rules import DEFAULT_PLAN
from cleanloop.loop.gate.stats import calibrate
from cleanloop.loop.gate.verify import Verifier, VerifyRequest, load_base_scenario
from cleanloop.loop.model.sli import is_binary
from cleanloop.loop.run.runner import browser_for
from cleanloop.loop.store.run_store import RunStore
from cleanloop.loop.vcs.git import resolve_commit
from cleanloop.loop.vcs.worktree import WorktreeManager

#: A/A runs per side when --runs is not given
DEFAULT_CALIBRATION_RUNS = 6


def run_calibration(verifier: Verifier, req: VerifyRequest, runs: int) -> dict[str, Any]:
    base_sha = resolve_commit(verifier.repo, req.base)
    scenario, rel = load_base_scenario(verifier.repo, base_sha, req.scenario_path)
    top = RunStore.create(verifier.state_root, f"calibrate-{scenario.name}")
    with WorktreeManager(verifier.repo) as wm, browser_for(scenario, verifier.env) as browser:
        sides = [verifier.side(scenario, rel, wm.create(base_sha, label), top, browser)
                 for label in ("baseline", "candidate")]
        for k in range(runs):
            for side in (sides if k % 2 == 0 else sides[::-1]):
                verifier.progress.phase(f"calibrate {scenario.name}: A/A run {k + 1}/{runs} "
                                        f"({side.label})")
                verifier.runner.run_once(side, len(side.runs))
        for side in sides:
            side.store.write_tables()
    a1, a2 = sides
    rows = []
    for item in expand(planned_items(scenario), a1.runs):
        v1 = [x for x in (verifier.registry.evaluate(r, item.ref) for r in a1.runs)
              if x is not None]
        v2 = [x for x in (verifier.registry.evaluate(r, item.ref) for r in a2.runs)
              if x is not None]
        cal = calibrate(v1, v2)
        rows.append({"sli": item.ref.text, "role": item.role, "required": item.required,
                     "n": [cal.n_a1, cal.n_a2], "cv": _num(cal.cv), "aa_ratio": _num(cal.ratio),
                     "aa_p_value": _num(cal.p_value), **_needs(item, cal.cv, v1 + v2)})
    return {"verdict": "calibration", "scenario": scenario.name, "base": base_sha,
            "runs_per_side": runs, "slis": rows, "artifacts": {"run_dir": str(top.dir)}}


def _needs(item: Item, cv: float, values: list[float]) -> dict[str, Any]:
    """Runs per side the default plan's alpha needs for this item (80 % power), and what
    the default cap of runs could decide instead. Per-run items (0/1 SLIs, all-zero
    values) need no ratio, so no runs either."""
    alpha, cap = DEFAULT_PLAN.alpha_look, DEFAULT_PLAN.max_runs
    higher = item.higher_is_better
    if is_binary(item.ref) or not any(values):
        return {"judged": "per_run", "runs_needed": None, "decidable_at_cap": None}
    if not math.isfinite(cv):
        return {"judged": "ratio", "runs_needed": None, "decidable_at_cap": None}
    if item.role == "guard":
        needed = guard_runs_needed(cv, item.required, alpha, higher_is_better=higher)
        at_cap = guard_detectable(cv, cap, alpha, higher_is_better=higher)
    else:
        needed = target_runs_needed(cv, item.required, alpha, min(0.95, 1.5 * item.required),
                                    higher_is_better=higher)
        at_cap = target_detectable(cv, cap, alpha, item.required, higher_is_better=higher)
    return {"judged": "ratio", "runs_needed": needed, "decidable_at_cap": _num(at_cap)}


def _num(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def calibration_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"CALIBRATION  {result['scenario']}  A/A at {result['base'][:12]}, "
             f"{result['runs_per_side']} runs per side  ({result['artifacts']['run_dir']})", "",
             f"  {'SLI':<46} {'role':<6} {'CV':>7} {'A/A ratio':>10} {'p':>7} "
             f"{'runs/side needed':>20} {'at 18 runs':>16}"]
    for r in result["slis"]:
        cv = "-" if r["cv"] is None else f"{r['cv']:.1%}"
        ratio = "-" if r["aa_ratio"] is None else f"{r['aa_ratio']:.3f}"
        p = "-" if r["aa_p_value"] is None else f"{r['aa_p_value']:.2g}"
        need, cap = _need_text(r)
        lines.append(f"  {r['sli'][:46]:<46} {r['role']:<6} {cv:>7} {ratio:>10} {p:>7} "
                     f"{need:>20} {cap:>16}")
    lines += ["", "  runs/side needed (80% power, alpha per look of the default plan): a target "
              "to accept a true improvement of 1.5x its required one; a guard to hold when "
              "nothing changed. Compare with --max-runs.",
              "  at 18 runs: the smallest improvement a target accepts, or the smallest "
              "tolerance a guard proves, within the default cap"]
    return lines


def _need_text(r: dict[str, Any]) -> tuple[str, str]:
    if r.get("judged") == "per_run":
        return "judged per run", "-"
    if r["runs_needed"] is None:
        return "-", "-"
    at_cap = r.get("decidable_at_cap")
    cap = "-" if at_cap is None else (f"improves >= {at_cap:.0%}" if r["role"] == "target"
                                      else f"<= {at_cap:.0%}")
    what = f"for {min(0.95, 1.5 * r['required']):.0%}" if r["role"] == "target" \
        else f"to hold {r['required']:.0%}"
    return f"{r['runs_needed']} ({what})", cap
