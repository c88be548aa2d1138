"""What a fix run takes and gives: the request, each attempt, the result, and what one attempt
is handed (the loop's fixed setting and the feedback of the previous iterations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.loop.gate.plan import SequentialPlan

if TYPE_CHECKING:
    from cleanloop.loop.fix.agents import Agent
    from cleanloop.loop.gate.verify_types import VerifyResult
    from cleanloop.loop.model.scenario import Scenario
    from cleanloop.loop.model.verdict_types import Verdict


@dataclass(frozen=True)
class FixRequest:
    scenario_path: Path
    agent: str
    base: str = "HEAD"
    max_iterations: int = 3
    budget_s: float | None = None
    agent_timeout_s: float = 900.0
    continue_previous: bool = False
    allow_env: Sequence[str] = ()
    scripted_patches: Sequence[Path] = ()
    plan: SequentialPlan | None = None


@dataclass
class Attempt:
    iteration: int
    dir: Path
    outcome: str = "pending"   # accept | reject | inconclusive | tampered | no-diff | timeout |
    reason: str = ""           # agent-failed | interrupted
    diff_stat: str = ""
    #: the copy of the verify's verdict.json in the attempt directory ('' when none ran)
    verdict_path: str = ""
    #: the verify of this attempt's diff, in memory (None when it did not get that far)
    verify: VerifyResult | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "outcome": self.outcome, "reason": self.reason,
                "diff_stat": self.diff_stat, "dir": str(self.dir),
                "verdict": self.verdict_path}


@dataclass
class FixResult:
    outcome: str               # fixed | not-reproduced | exhausted | budget | interrupted
    #                            | error (an infrastructure error ended the run)
    fix_dir: Path
    scenario: str = ""
    base: str = ""             # the base commit
    attempts: list[Attempt] = field(default_factory=list)
    branch: str = ""
    #: the verdict of the reproduction on the base (None when the run ended before it)
    reproduction: Verdict | None = None
    report: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """summary.json, and what `cleanloop fix --json` prints."""
        repro = self.reproduction
        return {"outcome": self.outcome, "scenario": self.scenario, "base": self.base,
                "branch": self.branch, "attempts": [a.as_dict() for a in self.attempts],
                "reproduction": {"verdict": repro.verdict if repro else None,
                                 "run_dir": repro.artifacts.run_dir if repro else None}}


@dataclass(frozen=True)
class FixSetting:
    """What stays the same for every attempt of one fix run."""

    req: FixRequest
    agent: Agent
    scenario: Scenario
    #: the scenario's path relative to the repository root
    rel: str
    base_sha: str
    #: time.monotonic() of the --budget's end (None: no budget)
    deadline: float | None


@dataclass(frozen=True)
class Feedback:
    """What an attempt is handed from before it: the failure to fix and, after a rejection,
    the gate's verdict, the earlier attempts and the previous diff (for --continue)."""

    #: the reproduction's verdict: its failing checks are the task
    failing: Verdict
    #: the run whose tables the evidence comes from (the last rejected candidate's, if any)
    run_dir: Path
    gate: Verdict | None = None
    previous: tuple[Attempt, ...] = ()
    previous_diff: str = ""
