"""The verdict of a verify (verdict.json, stable keys): checks, gate items and runs per side."""

from __future__ import annotations

from typing import Any

from cleanloop.loop.gate.types import GateDecision
from cleanloop.loop.gate.verify_types import Side
from cleanloop.loop.model.checks import parse_sli
from cleanloop.loop.model.evaluation import CheckResult, sli_unit
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.verdict import run_entry, step_failures


def build_verify_verdict(scenario: Scenario, sides: list[Side], decision: GateDecision | None,
                         checks: list[CheckResult], outcome: str, reason: str) -> dict[str, Any]:
    base, cand = sides
    entries = [c.as_dict() for c in checks] + step_failures(cand.runs)
    if decision is not None:
        for comp in decision.comparisons:
            d = comp.as_dict()
            entries.append({"check": comp.source, "kind": "relative", "role": comp.role,
                            "value": d["ratio"], "threshold": d["threshold"], "ok": comp.ok,
                            "unit": sli_unit(parse_sli(comp.sli)),
                            "classification": d["classification"], "evidence": d})
    return {
        "verdict": outcome, "reason": reason, "scenario": scenario.name,
        "scenario_file": scenario.path,
        "baseline": {"commit": base.worktree.commit, "runs": len(base.runs)},
        "candidate": {"commit": cand.worktree.commit, "runs": len(cand.runs)},
        "runs": [{"side": s.label, **run_entry(r)} for s in sides for r in s.runs],
        "checks": entries,
        "gate": decision.as_dict() if decision is not None else None,
        "artifacts": {"run_dir": str(base.store.dir.parent),
                      "baseline": str(base.store.dir), "candidate": str(cand.store.dir)},
    }
