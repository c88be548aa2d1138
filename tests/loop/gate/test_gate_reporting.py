"""What the gate tells the user: the verify table's noise columns and advice, and what
`verify --calibrate` says a target and a guard need."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from cleanloop.loop.gate.calibrate import _needs, calibration_lines
from cleanloop.loop.gate.items import planned_items
from cleanloop.loop.gate.power import guard_detectable, guard_runs_needed, target_runs_needed
from cleanloop.loop.gate.rules import DEFAULT_PLAN, GateInput, decide
from cleanloop.loop.model.scenario import load_scenario
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.report.verify_table import table_lines

SCENARIO = """\
name: noise
app: {command: "true"}
steps:
  - http: {path: /}
checks:
  - step("open").ok == 1
targets:
  - span("GET /a").p95 improves >= 20%
guards:
  - span("GET /b").p95 regresses <= 10%
"""


def lognormal(rng: np.random.Generator, cv: float, n: int) -> list[float]:
    return [float(x) for x in 100.0 * np.exp(rng.normal(0.0, math.sqrt(math.log1p(cv * cv)), n))]


def verdict_of(items: list[GateInput]) -> Verdict:
    decision = decide(items, DEFAULT_PLAN, 0)
    checks = [{"check": c.source, "kind": "relative", "role": c.role, "ok": c.ok,
               "unit": "ms", "evidence": c.as_dict()} for c in decision.comparisons]
    verdict = {"verdict": decision.outcome, "reason": decision.reason, "scenario": "noise",
               "baseline": {"commit": "a" * 40, "runs": 6},
               "candidate": {"commit": "b" * 40, "runs": 6},
               "artifacts": {"run_dir": "/tmp/x"}, "checks": checks,
               "gate": decision.as_dict()}
    return Verdict.from_json(json.loads(json.dumps(verdict, allow_nan=False)))


def test_the_table_shows_noise_detectable_effect_bound_and_advice() -> None:
    rng = np.random.default_rng(3)
    noisy = GateInput('span("GET /b").p95', "guard b", "guard", 0.10, lognormal(rng, 0.25, 6),
                      lognormal(rng, 0.25, 6))
    verdict = verdict_of([noisy])
    assert verdict.verdict == "inconclusive"
    text = "\n".join(table_lines(verdict))
    header = next(line for line in text.splitlines() if "SLI" in line)
    assert "CV" in header and "detects" in header
    row = next(line for line in text.splitlines() if line.lstrip().startswith('span("GET /b")'))
    assert "INCONCLUSIVE" in row and "%" in row
    assert "false-accept bound of every ratio item: 0.01" in text
    assert "needs about" in text and "or a tolerance of at least" in text


def test_per_run_items_show_no_ratio_and_no_noise() -> None:
    item = GateInput("errors", "errors guard", "guard", 0.10, [0.0] * 6, [0.0] * 6)
    verdict = verdict_of([item])
    row = next(line for line in table_lines(verdict) if line.lstrip().startswith("errors"))
    assert "per run" in row and "HELD" in row and "ratio" not in row


def test_calibration_says_what_targets_and_guards_need(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    path.write_text(SCENARIO)
    items = {i.role: i for i in planned_items(load_scenario(path))}
    assert set(items) == {"target", "guard"}  # no default guard for the 0/1 step check
    alpha = DEFAULT_PLAN.alpha_look
    guard = _needs(items["guard"], 0.15, [1.0, 2.0])
    assert guard["runs_needed"] == guard_runs_needed(0.15, 0.10, alpha) > 18
    assert guard["decidable_at_cap"] == round(guard_detectable(0.15, 18, alpha), 4)
    target = _needs(items["target"], 0.15, [1.0, 2.0])
    assert target["runs_needed"] == target_runs_needed(0.15, 0.20, alpha, 0.30)
    assert _needs(items["guard"], 0.15, [0.0, 0.0])["judged"] == "per_run"
    rows = [{"sli": i.ref.text, "role": role, "required": i.required, "n": [6, 6], "cv": 0.15,
             "aa_ratio": 1.0, "aa_p_value": 0.5, **_needs(i, 0.15, [1.0])}
            for role, i in items.items()]
    lines = "\n".join(calibration_lines({"scenario": "noise", "base": "c" * 40,
                                         "runs_per_side": 6, "slis": rows,
                                         "artifacts": {"run_dir": "/tmp/c"}}))
    assert f"{guard['runs_needed']} (to hold 10%)" in lines
    assert f"{target['runs_needed']} (for 30%)" in lines


def test_power_formulas_agree_with_simulation() -> None:
    """A guard at CV 5 % with the runs guard_runs_needed names holds about 80 % of the time."""
    alpha = DEFAULT_PLAN.alpha_look
    n = guard_runs_needed(0.05, 0.10, alpha)
    rng = np.random.default_rng(11)
    from cleanloop.loop.gate.rules import compare

    held = sum(compare(GateInput("g", "g", "guard", 0.10, lognormal(rng, 0.05, n),
                                 lognormal(rng, 0.05, n)), alpha, final=True).ok
               for _ in range(300))
    assert 0.65 < held / 300 < 0.97
    # and the tolerance guard_detectable names at 18 runs is held about as often
    tol = guard_detectable(0.15, 18, alpha)
    held = sum(compare(GateInput("g", "g", "guard", tol, lognormal(rng, 0.15, 18),
                                 lognormal(rng, 0.15, 18)), alpha, final=True).ok
               for _ in range(300))
    assert 0.65 < held / 300 < 0.97
