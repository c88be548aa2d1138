"""The interleaved A/B loop of `cleanloop verify` and its verdict.

It gets a SideRunner (run one side once, judge the sides) from the Verifier and never calls
back into the Verifier.

Runs go in ABBA order (A B, then B A, ...) so that drift and order effects hit both
sides equally. After each batch the gate looks; zero-count checks failing on the
candidate, a candidate that cannot boot, or a crash end the verify at once (reject).
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.gate.items import planned_items
from cleanloop.loop.gate.side_runner import SideRunner
from cleanloop.loop.gate.types import GateDecision
from cleanloop.loop.gate.verify_types import Side, VerifyRequest, VerifyResult
from cleanloop.loop.gate.verify_verdict import build_verify_verdict
from cleanloop.loop.model.evaluation import CheckResult
from cleanloop.loop.model.sli import is_binary
from cleanloop.loop.model.verdict import step_failures

if TYPE_CHECKING:
    from cleanloop.loop.model.scenario import Scenario
    from cleanloop.loop.run.progress import Progress

logger = logging.getLogger(__name__)


class Interleaving:
    def __init__(self, runner: SideRunner, progress: Progress, scenario: Scenario,
                 sides: list[Side], req: VerifyRequest) -> None:
        self.v = runner
        self.progress = progress
        self.scenario = scenario
        self.sides = sides
        self.req = req
        assert req.plan is not None, "Verifier.verify resolves the plan"
        self.plan = req.plan
        self.items = planned_items(scenario)
        self.decision: GateDecision | None = None
        self.checks: list[CheckResult] = []
        self.stop_reason = ""

    def _phase(self, side: str, k: int, n: int) -> None:
        self.progress.checkpoint()
        estimate = ""
        if self.decision is not None:
            parts = [f"{c.sli} ×{c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"
                     for c in self.decision.comparisons if c.role == "target"]
            estimate = " | " + "; ".join(parts) if parts else ""
        remaining = self.plan.max_runs - min(len(s.runs) for s in self.sides)
        self.progress.phase(f"verify {self.scenario.name}: {side} run {k}/{n}{estimate} | "
                              f"at most {remaining} more runs per side")

    def _run(self, side: Side, index: int, keep: bool = True) -> str:
        """One run of one side; a reason to reject when the candidate breaks, else ''."""
        try:
            rep = self.v.run_once(side, index, keep)
        except LaunchError as exc:
            if side is self.sides[0]:
                raise
            return f"the candidate failed to boot: {exc}"
        if side is self.sides[1] and rep.crashed:
            return f"the candidate crashed during run {index + 1} (exit code {rep.exit_code})"
        return ""

    def run(self) -> VerifyResult:
        base, cand = self.sides
        for i in range(self.req.warmup):
            for side in (base, cand):
                self._phase(f"{side.label} warm-up", i + 1, self.req.warmup)
                if why := self._run(side, -1 - i, keep=False):
                    return self._finish("reject", why)
        look = 0
        while (n := self.plan.next_n(self.decision)) is not None:
            while len(cand.runs) < n:
                if self.req.deadline is not None and time.monotonic() > self.req.deadline:
                    return self._finish("inconclusive", "the time budget ran out after "
                                        f"{len(cand.runs)} runs per side, undecided")
                order = (base, cand) if len(cand.runs) % 2 == 0 else (cand, base)
                for side in order:
                    self._phase(side.label, len(side.runs) + 1, n)
                    if why := self._run(side, len(side.runs)):
                        return self._finish("reject", why)
                # a zero-count check or an expectation failing in one candidate run is final
                if why := self._definitive_failure():
                    self.decision = self.v.gate(self.items, self.sides, self.plan, look,
                                                self.decision)
                    return self._finish("reject", why)
            self.checks = self.v.check_candidate(self.scenario, cand)
            self.decision = self.v.gate(self.items, self.sides, self.plan, look,
                                        self.decision)
            look += 1
        return self._finish(*self._outcome())

    def _definitive_failure(self) -> str:
        self.checks = self.v.check_candidate(self.scenario, self.sides[1])
        failed = [c.check.text for c in self.checks
                  if (c.check.kind == "zero" or is_binary(c.check.sli)) and not c.ok]
        failed += self._candidate_step_failures()
        return "the candidate fails: " + "; ".join(failed) if failed else ""

    def _candidate_step_failures(self) -> list[str]:
        # "step #3 (cart-count): expect_text at x.yaml:13: ..." rather than naming it twice
        return [f"{f.check}: " + re.sub(r"^step #\d+ \(([^)]*)\) at ", r"\1 at ", f.note)
                for f in step_failures(self.sides[1].runs)]

    def _outcome(self) -> tuple[str, str]:
        assert self.decision is not None
        failed = [c.check.text for c in self.checks if not c.ok]
        if failed:
            gate = f"; gate: {self.decision.reason}" if self.decision.outcome == "reject" else ""
            return "reject", "checks fail on the candidate: " + "; ".join(failed) + gate
        if self.decision.outcome == "accept" and self.checks:
            return "accept", f"{self.decision.reason}; all {len(self.checks)} checks pass on " \
                             "the candidate"
        return self.decision.outcome, self.decision.reason

    def _finish(self, outcome: str, reason: str) -> VerifyResult:
        for side in self.sides:
            side.store.write_tables()
        run_dir = self.sides[0].store.dir.parent
        verdict = build_verify_verdict(self.scenario, self.sides, self.decision, self.checks,
                                       outcome, reason)
        (run_dir / "verdict.json").write_text(verdict.dumps(), encoding="utf-8")
        return VerifyResult(outcome=outcome, reason=reason, scenario=self.scenario,
                            decision=self.decision, checks=self.checks,
                            step_failures=self._candidate_step_failures(), run_dir=run_dir,
                            verdict=verdict)
