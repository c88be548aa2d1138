"""What a fix run takes and gives: the request, each attempt, and the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanloop.loop.gate.plan import SequentialPlan


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
    verdict_path: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "outcome": self.outcome, "reason": self.reason,
                "diff_stat": self.diff_stat, "dir": str(self.dir),
                "verdict": self.verdict_path}


@dataclass
class FixResult:
    outcome: str               # fixed | not-reproduced | exhausted | budget | interrupted
    #                            | error (an infrastructure error ended the run)
    fix_dir: Path
    attempts: list[Attempt] = field(default_factory=list)
    branch: str = ""
    reproduction: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None
