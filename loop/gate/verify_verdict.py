"""The verdict of a verify, built once: checks on the candidate, the gate's items, runs per side."""

from __future__ import annotations

from cleanloop.loop.gate.types import Comparison, GateDecision
from cleanloop.loop.gate.verify_types import Side
from cleanloop.loop.model.checks import parse_sli
from cleanloop.loop.model.evaluation import CheckResult, sli_unit
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.verdict import run_entry, step_failures
from cleanloop.loop.model.verdict_types import Artifacts, CheckEntry, SideInfo, Verdict


def gate_entry(comp: Comparison) -> CheckEntry:
    """A target or guard the gate compared, as a row of the verdict's checks."""
    d = comp.as_dict()
    return CheckEntry("gate", comp.source, "relative", comp.role, d["ratio"], d["threshold"],
                      comp.ok, d, unit=sli_unit(parse_sli(comp.sli)),
                      classification=d["classification"])


def build_verify_verdict(scenario: Scenario, sides: list[Side], decision: GateDecision | None,
                         checks: list[CheckResult], outcome: str, reason: str) -> Verdict:
    base, cand = sides
    entries = [c.entry() for c in checks] + step_failures(cand.runs)
    if decision is not None:
        entries += [gate_entry(comp) for comp in decision.comparisons]
    return Verdict(
        verdict=outcome, reason=reason, scenario=scenario.name, scenario_file=scenario.path,
        baseline=SideInfo(base.worktree.commit, len(base.runs)),
        candidate=SideInfo(cand.worktree.commit, len(cand.runs)),
        runs=tuple(run_entry(r, s.label) for s in sides for r in s.runs),
        checks=tuple(entries),
        gate=decision.as_dict() if decision is not None else None,
        artifacts=Artifacts(run_dir=str(base.store.dir.parent), baseline=str(base.store.dir),
                            candidate=str(cand.store.dir)))
