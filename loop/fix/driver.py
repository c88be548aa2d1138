"""`cleanloop fix`: reproduce, let an agent patch a worktree, verify, repeat until clean.

    reproduce on the base revision (in a worktree) -- checks already pass? stop: not reproduced
    for each iteration, within --max-iterations and --budget:
        fresh candidate worktree (or base + the previous diff, when continuing)
        -> prompt.md + evidence/ -> agent (time limit, scrubbed env, logs kept)
        -> its diff -> tamper check (protected paths: rejected without running)
        -> `verify` base vs base+diff (scenario and checks from the base revision)
        -> ACCEPT: commit the diff on a new branch; otherwise feed the gate's table back
Attempts are kept under .cleanloop/fixes/<id>/attempt-N/; worktrees never outlive the run.
The verdict always comes from cleanloop's own rerun, never from what the agent says.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cleanloop.loop.base.redact import Redactor
from cleanloop.loop.fix.agents import AgentInvocation, cleanloop_command, resolve_agent
from cleanloop.loop.fix.attempts import Attempt, Feedback, FixRequest, FixResult, FixSetting
from cleanloop.loop.fix.evidence_bundle import write_bundle
from cleanloop.loop.fix.summary import commit_message, write_report
from cleanloop.loop.fix.tamper import protected_violations
from cleanloop.loop.gate.verify import Verifier, VerifyRequest, load_base_scenario
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.run.progress import Progress
from cleanloop.loop.run.runner import RunResult, browser_for, run_scenario
from cleanloop.loop.store.run_store import ensure_state_dir, new_run_id
from cleanloop.loop.vcs.git import git, resolve_commit
from cleanloop.loop.vcs.worktree import WorktreeManager, commit_on_new_branch

if TYPE_CHECKING:
    from cleanloop.probes.browser import BrowserSession

logger = logging.getLogger(__name__)


def _diff_stat(diff: str) -> str:
    files = [line[6:] for line in diff.splitlines() if line.startswith("+++ b/")]
    plus = sum(1 for line in diff.splitlines() if line.startswith("+") and
               not line.startswith("+++"))
    minus = sum(1 for line in diff.splitlines() if line.startswith("-") and
                not line.startswith("---"))
    return f"{len(files)} file(s) +{plus} -{minus}: {', '.join(files)}"


class Driver:
    def __init__(self, repo: Path, state_root: Path, progress: Progress,
                 env: Mapping[str, str]) -> None:
        self.repo = repo
        self.state_root = state_root
        self.progress = progress
        self.env = env
        self.redactor = Redactor.from_env(env)
        #: the browser the loop shares while it runs (None: no browser steps)
        self.browser: BrowserSession | None = None

    def fix(self, req: FixRequest) -> FixResult:
        # the wall-clock budget as one deadline: loop, agent time limit and verify all use it
        deadline = None if req.budget_s is None else time.monotonic() + req.budget_s
        agent = resolve_agent(req.agent, env=self.env, allow_env=req.allow_env,
                              scripted_patches=req.scripted_patches)
        base_sha = resolve_commit(self.repo, req.base)
        scenario, rel = load_base_scenario(self.repo, base_sha, req.scenario_path)
        fix_dir = ensure_state_dir(self.state_root) / "fixes" / new_run_id(scenario.name)
        fix_dir.mkdir(parents=True)
        result = FixResult("exhausted", fix_dir, scenario=scenario.name, base=base_sha)
        setting = FixSetting(req, agent, scenario, rel, base_sha, deadline)
        try:
            # one browser for the whole loop: the reproduction and every attempt's verify
            with browser_for(scenario, self.env) as self.browser:
                return self._loop(setting, result)
        except KeyboardInterrupt:
            _abandon(result, "interrupted", "Ctrl-C")
            raise
        except Exception as exc:
            # the report must not claim "exhausted" for a run that broke (exit 3)
            _abandon(result, "error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self.browser = None

            result.report = write_report(result)

    def _loop(self, setting: FixSetting, result: FixResult) -> FixResult:
        scenario, deadline = setting.scenario, setting.deadline
        repro = self._reproduce(scenario, setting.rel, setting.base_sha)
        result.reproduction = repro.verdict
        # passing checks mean nothing to fix; only a scenario of targets alone (make it
        # faster) has no absolute failure to reproduce and goes to the agent anyway
        if repro.passed and (scenario.checks or not scenario.targets):
            result.outcome = "not-reproduced"
            return result
        feedback = Feedback(failing=repro.verdict, run_dir=repro.store.dir)
        for i in range(1, setting.req.max_iterations + 1):
            if deadline is not None and time.monotonic() > deadline:
                result.outcome = "budget"
                break
            attempt = Attempt(i, result.fix_dir / f"attempt-{i}")
            result.attempts.append(attempt)
            diff = self._attempt(setting, attempt, replace(
                feedback, previous=tuple(result.attempts[:-1])))
            if attempt.outcome == "accept" and attempt.verify is not None:
                result.outcome = "fixed"
                result.branch = self._land(scenario.name, setting.base_sha, diff,
                                           attempt.iteration, attempt.verify.verdict,
                                           repro.verdict)
                break
            if attempt.outcome in ("reject", "inconclusive") and attempt.verify is not None:
                # the next attempt sees why this one was rejected, and its candidate's tables
                feedback = replace(feedback, gate=attempt.verify.verdict,
                                   run_dir=Path(attempt.verify.verdict.artifacts.candidate
                                                or attempt.verify.run_dir),
                                   previous_diff=diff)
        return result

    def _reproduce(self, scenario: Scenario, rel: str, base_sha: str) -> RunResult:
        self.progress.phase(f"fix {scenario.name}: reproducing on {base_sha[:12]}")
        with WorktreeManager(self.repo) as wm:
            wt = wm.create(base_sha, "reproduce")
            return run_scenario(scenario, project_dir=(wt.path / rel).parent,
                                state_root=self.state_root, repeat=1, progress=self.progress,
                                env=self.env, browser=self.browser)

    def _attempt(self, setting: FixSetting, attempt: Attempt, feedback: Feedback) -> str:
        """One iteration: agent, diff, tamper check, verify. Sets the attempt's outcome (and
        its verify, when one ran); returns the agent's diff."""
        req, agent, scenario, rel = setting.req, setting.agent, setting.scenario, setting.rel
        deadline = setting.deadline
        attempt.dir.mkdir(parents=True)
        with WorktreeManager(self.repo) as wm:
            wt = wm.create(setting.base_sha, f"attempt-{attempt.iteration}")
            if req.continue_previous and feedback.previous_diff:
                wt.apply_patch(feedback.previous_diff)
            prompt = write_bundle(
                out_dir=attempt.dir, scenario=scenario, scenario_rel=rel,
                repo_hint=str(self.repo), failing_verdict=feedback.failing,
                run_dir=feedback.run_dir, iteration=attempt.iteration,
                previous_attempts=[a.as_dict() for a in feedback.previous],
                gate_verdict=feedback.gate, redactor=self.redactor,
                cleanloop=cleanloop_command())
            timeout = req.agent_timeout_s
            if deadline is not None:
                timeout = max(1.0, min(timeout, deadline - time.monotonic()))
            self.progress.phase(f"fix {scenario.name}: attempt {attempt.iteration}: agent "
                                f"{agent.name} working (limit {timeout:.0f}s)")
            outcome = agent.run(AgentInvocation(
                prompt_file=prompt, worktree=wt.path, evidence_dir=attempt.dir / "evidence",
                iteration=attempt.iteration, timeout_s=timeout, log_dir=attempt.dir))
            diff = wt.diff()
            changed = wt.changed_paths()
        (attempt.dir / "diff.patch").write_text(diff, encoding="utf-8")
        attempt.diff_stat = _diff_stat(diff) if diff else "no changes"
        if outcome.timed_out:
            attempt.outcome, attempt.reason = "timeout", (
                f"the agent was killed at its {timeout:.0f}s time limit")
            return diff
        if not diff.strip():
            attempt.outcome = "no-diff"
            attempt.reason = f"the agent made no change (exit code {outcome.exit_code})"
            return diff
        # the scenario file itself is protected whatever its `protected:` list says
        violations = protected_violations(changed, (*scenario.protected, "/" + rel))
        if violations:
            attempt.outcome = "tampered"
            attempt.reason = ("the diff touches protected paths: " + ", ".join(violations)
                              + "; rejected without running")
            return diff
        self.progress.phase(f"fix {scenario.name}: attempt {attempt.iteration}: verifying")
        verifier = Verifier(self.repo, self.state_root, self.progress, self.env,
                            browser=self.browser)
        vreq = VerifyRequest(scenario_path=self.repo / rel, base=setting.base_sha,
                             patch=attempt.dir / "diff.patch", deadline=deadline)
        if req.plan is not None:
            vreq = replace(vreq, plan=req.plan)
        res = verifier.verify(vreq)
        # a copy for the user next to the attempt; the loop keeps using `res` in memory
        (attempt.dir / "verdict.json").write_text(res.verdict.dumps(), encoding="utf-8")
        attempt.verdict_path = str(attempt.dir / "verdict.json")
        attempt.verify = res
        attempt.outcome, attempt.reason = res.outcome, res.reason
        return diff

    def _land(self, scenario: str, base_sha: str, diff: str, iteration: int, verdict: Verdict,
              reproduction: Verdict) -> str:

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in scenario)
        branch = f"cleanloop/{safe}-{stamp}"
        taken = set(git(self.repo, "for-each-ref", "--format=%(refname:short)",
                        "refs/heads/cleanloop/").split())
        n = 2
        while branch in taken:  # two fixes of one scenario landing in the same second
            branch, n = f"cleanloop/{safe}-{stamp}-{n}", n + 1
        commit_on_new_branch(self.repo, base_sha, diff, branch,
                             commit_message(scenario, verdict, iteration, reproduction))
        return branch


def _abandon(result: FixResult, outcome: str, reason: str) -> None:
    """The run ends early: its outcome, and the attempt that was under way (if any)."""
    result.outcome = outcome
    for a in result.attempts:
        if a.outcome == "pending":
            a.outcome, a.reason = outcome, reason
