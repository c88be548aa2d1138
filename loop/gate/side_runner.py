"""Running one side of a verify once, and judging what the sides have so far.

The interleaving loop (cleanloop.loop.gate.interleave) calls this; it never calls back into
the Verifier that started it.
"""

from __future__ import annotations

from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.gate.items import Item, expand, gate_inputs
from cleanloop.loop.gate.plan import SequentialPlan
from cleanloop.loop.gate.rules import decide
from cleanloop.loop.gate.types import GateDecision
from cleanloop.loop.gate.verify_types import Side
from cleanloop.loop.model.evaluation import CheckResult, evaluate_checks
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.sli import SliRegistry


class SideRunner:
    def __init__(self, registry: SliRegistry) -> None:
        self.registry = registry

    def run_once(self, side: Side, index: int, keep: bool = True) -> RunData:
        """Boot and measure one side once; `keep` adds the run to the side (not a warm-up)."""
        try:
            rep = side.session.run(index)
        except LaunchError as exc:
            if side.label != "baseline":
                raise
            raise LaunchError(f"the baseline ({side.worktree.commit[:12]}) did not boot, so "
                              f"there is nothing to compare against: {exc}") from exc
        if keep:
            side.store.add(index, rep.columns)
            side.runs.append(rep)
        return rep

    def check_candidate(self, scenario: Scenario, cand: Side) -> list[CheckResult]:
        return evaluate_checks(self.registry, scenario.checks, cand.runs)

    def gate(self, items: list[Item], sides: list[Side], plan: SequentialPlan, look: int,
             previous: GateDecision | None) -> GateDecision:
        base, cand = sides
        expanded = expand(items, base.runs)
        return decide(gate_inputs(self.registry, expanded, base.runs, cand.runs), plan, look,
                      previous)
