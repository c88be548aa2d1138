"""`cleanloop verify`: baseline and candidate, interleaved, each in its own git worktree.

    scenario + checks from the BASE revision -> worktrees (baseline, candidate [+ patch])
    -> optional warm-up runs per side (discarded) -> runs in ABBA order, one value per SLI per run
    -> the gate looks after each batch (sequential plan) -> accept | reject | inconclusive

Absolute and zero-count checks are judged on the candidate (median; every run).
A candidate that fails to boot or crashes is rejected with the reason; a baseline that
fails to boot is an infrastructure error. Worktrees are removed on every exit path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.loop.base.errors import RevisionError, UsageError
from cleanloop.loop.gate.interleave import Interleaving
from cleanloop.loop.gate.items import planned_items
from cleanloop.loop.gate.rules import DEFAULT_PLAN, SequentialPlan
from cleanloop.loop.gate.side_runner import SideRunner
from cleanloop.loop.gate.verify_types import Side, VerifyRequest, VerifyResult
from cleanloop.loop.model.scenario import Scenario, load_scenario
from cleanloop.loop.model.sli import SliRegistry
from cleanloop.loop.model.sli_sources import default_registry
from cleanloop.loop.run.progress import Progress
from cleanloop.loop.run.runner import shared_browser
from cleanloop.loop.run.session import Session
from cleanloop.loop.store.run_store import RunStore
from cleanloop.loop.vcs.git import read_file_at, repo_relative, resolve_commit
from cleanloop.loop.vcs.worktree import Worktree, WorktreeManager

if TYPE_CHECKING:
    from cleanloop.probes.browser import BrowserSession

logger = logging.getLogger(__name__)

#: a scenario with no target and no guard (not even a default one) has only checks, which
#: the candidate's runs decide by themselves: one look at 3 runs per side
CHECKS_ONLY_PLAN = SequentialPlan(initial_runs=3, step=3, max_runs=3, alpha=0.01)


def default_plan(scenario: Scenario) -> SequentialPlan:
    """The plan when the user gives none: every target and guard (default guards too) needs
    the full plan, as a guard is held only once its interval rules the regression out."""
    return DEFAULT_PLAN if planned_items(scenario) else CHECKS_ONLY_PLAN

def load_base_scenario(repo: Path, base_sha: str, scenario_path: Path, *,
                       base_ref: str | None = None) -> tuple[Scenario, str]:
    """The scenario as committed at the base revision (never the candidate's copy, nor the
    working tree's); RevisionError (exit 2) naming the path and the revision (`base_ref`, as
    the user wrote it, when given) when it is not committed there."""
    rel = repo_relative(repo, scenario_path.resolve())
    try:
        text = read_file_at(repo, base_sha, rel)
    except RevisionError:
        at = f"{base_ref!r} ({base_sha[:12]})" if base_ref else base_sha[:12]
        raise RevisionError(
            f"the scenario {rel} does not exist at the base revision {at}: verify and fix read "
            "the scenario and its checks from the base revision, so commit it there first "
            "(`cleanloop run` takes an uncommitted scenario)") from None
    return load_scenario(scenario_path, text=text), rel


class Verifier:
    def __init__(self, repo: Path, state_root: Path, progress: Progress, env: Mapping[str, str],
                 registry: SliRegistry | None = None,
                 prepare_candidate: Callable[[Worktree], None] | None = None,
                 browser: BrowserSession | None = None) -> None:
        self.repo = repo
        #: a browser kept open by the caller across verifies (the fix loop), else None
        self.browser = browser
        self.state_root = state_root
        self.progress = progress
        self.env = env
        self.registry = registry or default_registry()
        self.prepare_candidate = prepare_candidate
        self.runner = SideRunner(self.registry)

    def verify(self, req: VerifyRequest) -> VerifyResult:
        base_sha = resolve_commit(self.repo, req.base)
        cand_sha = resolve_commit(self.repo, req.candidate) if req.candidate else base_sha
        if req.patch is not None and not req.patch.exists():
            raise UsageError(f"no such patch file: {req.patch}")
        scenario, rel = load_base_scenario(self.repo, base_sha, req.scenario_path)
        if req.plan is None:
            req = replace(req, plan=default_plan(scenario))
        top = RunStore.create(self.state_root, f"verify-{scenario.name}")
        (top.dir / "scenario.yaml").write_text(scenario.source_text, encoding="utf-8")
        with WorktreeManager(self.repo) as wm, \
                shared_browser(scenario, self.env, self.browser) as browser:
            self.progress.checkpoint()
            self.progress.phase(f"verify {scenario.name}: creating worktrees")
            base_wt = wm.create(base_sha, "baseline")
            cand_wt = wm.create(cand_sha, "candidate")
            if req.patch is not None:
                cand_wt.apply_patch(req.patch)
            if self.prepare_candidate is not None:
                self.prepare_candidate(cand_wt)
            diff = cand_wt.diff()
            sides = [self.side(scenario, rel, wt, top, browser) for wt in (base_wt, cand_wt)]
            result = Interleaving(self.runner, self.progress, scenario, sides, req).run()
            result.candidate_diff = diff
            return result

    def side(self, scenario: Scenario, rel: str, wt: Worktree, top: RunStore,
              browser: Any) -> Side:
        store = RunStore(top.dir / wt.label)
        for sub in ("screenshots", "dom", "traces"):
            (store.dir / sub).mkdir(parents=True, exist_ok=True)
        project_dir = (wt.path / rel).parent
        session = Session(scenario, project_dir, store, self.progress, self.env, browser)
        return Side(wt.label, wt, store, session)



__all__ = ["DEFAULT_PLAN", "Side", "VerifyRequest", "VerifyResult", "Verifier", "planned_items"]
