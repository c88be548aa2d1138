"""What a verify takes and gives, and the two sides it compares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cleanloop.loop.gate.plan import SequentialPlan
from cleanloop.loop.gate.types import GateDecision
from cleanloop.loop.model.evaluation import CheckResult
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.run.session import Session
from cleanloop.loop.store.run_store import RunStore
from cleanloop.loop.vcs.worktree import Worktree


@dataclass(frozen=True)
class VerifyRequest:
    scenario_path: Path
    base: str
    candidate: str | None = None
    patch: Path | None = None
    #: None: the default plan for the scenario (`default_plan`); a plan given is used as is
    plan: SequentialPlan | None = None
    warmup: int = 0
    #: time.monotonic() after which no new run starts (the fix loop's --budget): the verify
    #: ends INCONCLUSIVE, never accepted
    deadline: float | None = None


@dataclass
class VerifyResult:
    outcome: str                     # accept | reject | inconclusive
    reason: str
    scenario: Scenario
    decision: GateDecision | None
    checks: list[CheckResult]
    step_failures: list[str]
    run_dir: Path
    #: built once; run_dir/verdict.json is its JSON form
    verdict: Verdict
    candidate_diff: str = ""


@dataclass
class Side:
    label: str                       # baseline | candidate
    worktree: Worktree
    store: RunStore
    session: Session
    runs: list[RunData] = field(default_factory=list)
