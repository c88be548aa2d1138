"""Ctrl-C at each phase of `cleanloop fix`: exit 130, nothing left running, attempts kept."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.interrupt import interrupt_at
from tests.loop.fix.test_fix import assert_branch_is_base_plus
from tests.processes import processes_mentioning
from tests.repo_state import assert_no_worktrees, sh, snapshot
from tests.shop_repo import fix, seeded_shop
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

PY = shlex.quote(sys.executable)
SCRIPTED_FIX = ["--agent", "scripted", "--script-patch", str(fix("error-log.patch"))]
#: an agent that edits the worktree, then works "forever" (its command names the worktree)
AGENT_WORKING = "agent: working"
SLOW_AGENT = ["--agent", "echo '# wip' >> {worktree}/app/catalog.py && "
              f"echo '{AGENT_WORKING}' && {PY} -c 'import signal; signal.pause()' {{worktree}}"]
AGENT_START_LIMIT_S = 30.0

# phase -> (a line on stderr (-v logging) that tells the phase has been reached, which time
#           it shows, agent args, the outcome attempt-1 records (None: no attempt yet))
PHASES: dict[str, tuple[str | re.Pattern[str], int, list[str], str | None]] = {
    "reproducing": ("launching ", 1, SCRIPTED_FIX, None),
    "evidence": ("worktree attempt-1", 1, SCRIPTED_FIX, "interrupted"),
    "agent": ("INFO cleanloop.loop.fix.agents.base: agent command: ", 1, SLOW_AGENT, "interrupted"),
    "verify-worktrees": ("worktree baseline", 1, SCRIPTED_FIX, "interrupted"),
    "verify-candidate": (re.compile(r"launching .* in .*/candidate(/|$)"), 1, SCRIPTED_FIX,
                         "interrupted"),
    # the gate accepted: the branch is being made
    "landing": ("worktree commit", 1, SCRIPTED_FIX, "accept"),
}
LANDED = "refs/heads/cleanloop/"


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_at_each_phase(phase: str, tmp_path: Path, git_env: None) -> None:
    marker, occurrence, agent, attempt_outcome = PHASES[phase]
    repo = seeded_shop(tmp_path / "shop")
    before = snapshot(repo)
    code, err = interrupt_at(
        ["fix", "error-log.yaml", *agent], repo, marker,
        (lambda: wait_until_the_agent_works(repo)) if phase == "agent" else None, occurrence)
    assert code == 130, err
    assert "interrupted" in err
    after = snapshot(repo)
    landed = [r for r in after["refs"] if LANDED in r]  # type: ignore[attr-defined]
    after["refs"] = [r for r in after["refs"] if LANDED not in r]  # type: ignore[attr-defined]
    assert after == before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []
    if phase != "landing":
        assert landed == []
    else:  # interrupted while landing: no branch, or a whole one holding exactly the fix
        for ref in landed:
            assert_branch_is_base_plus(repo, tmp_path, sh(repo, "rev-parse", "HEAD").strip(),
                                       ref.split()[-1], fix("error-log.patch"))

    # the fix directory and its attempts are kept, and say they were interrupted
    [fix_dir] = (repo / ".cleanloop" / "fixes").iterdir()
    summary = json.loads((fix_dir / "summary.json").read_text())
    assert summary["outcome"] == "interrupted"
    attempt = fix_dir / "attempt-1"
    assert attempt.is_dir() == (attempt_outcome is not None)
    if attempt_outcome is not None:
        if phase != "evidence":  # Ctrl-C may come while the prompt is being written
            assert (attempt / "prompt.md").is_file()
        [entry] = summary["attempts"]
        assert entry["outcome"] == attempt_outcome
    else:
        assert summary["attempts"] == []


def wait_until_the_agent_works(repo: Path) -> None:
    """The log line comes just before the agent starts: wait for its own first output."""
    def working() -> bool:
        outs = list((repo / ".cleanloop" / "fixes").glob("*/attempt-1/agent.stdout"))
        return bool(outs) and AGENT_WORKING in outs[0].read_text()

    assert wait_until(working, AGENT_START_LIMIT_S), \
        f"the agent did not start within {AGENT_START_LIMIT_S:.0f}s"
