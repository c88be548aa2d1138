"""Ctrl-C at each phase of `cleanloop fix`: exit 130, nothing left running, attempts kept."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from tests.interrupt import interrupt_at
from tests.processes import processes_mentioning
from tests.repo_state import assert_no_worktrees, snapshot
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

# phase -> (a line on stderr (-v logging) that tells the phase has been reached, agent args,
#           whether attempt-1 exists by then)
PHASES: dict[str, tuple[str, list[str], bool]] = {
    "reproducing": ("launching ", SCRIPTED_FIX, False),
    "agent": ("INFO loop.agents.base: agent command: ", SLOW_AGENT, True),
    "verifying": ("worktree baseline", SCRIPTED_FIX, True),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_at_each_phase(phase: str, tmp_path: Path, git_env: None) -> None:
    marker, agent, has_attempt = PHASES[phase]
    repo = seeded_shop(tmp_path / "shop")
    before = snapshot(repo)
    code, err = interrupt_at(
        ["fix", "error-log.yaml", *agent], repo, marker,
        (lambda: wait_until_the_agent_works(repo)) if phase == "agent" else None)
    assert code == 130, err
    assert "interrupted" in err
    assert snapshot(repo) == before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []

    # the fix directory and its attempts are kept, and say they were interrupted
    [fix_dir] = (repo / ".cleanloop" / "fixes").iterdir()
    summary = json.loads((fix_dir / "summary.json").read_text())
    assert summary["outcome"] == "interrupted"
    attempt = fix_dir / "attempt-1"
    assert attempt.is_dir() == has_attempt
    if has_attempt:
        assert (attempt / "prompt.md").is_file() and (attempt / "agent.stdout").exists()
        [entry] = summary["attempts"]
        assert entry["outcome"] == "interrupted"
    else:
        assert summary["attempts"] == []


def wait_until_the_agent_works(repo: Path) -> None:
    """The log line comes just before the agent starts: wait for its own first output."""
    def working() -> bool:
        outs = list((repo / ".cleanloop" / "fixes").glob("*/attempt-1/agent.stdout"))
        return bool(outs) and AGENT_WORKING in outs[0].read_text()

    assert wait_until(working, AGENT_START_LIMIT_S), \
        f"the agent did not start within {AGENT_START_LIMIT_S:.0f}s"
