"""Ctrl-C at each phase of `cleanloop verify`: no worktree, no process, the tree as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interrupt import interrupt_at
from tests.processes import processes_mentioning
from tests.repo_state import assert_no_worktrees, snapshot
from tests.shop_repo import fix, seeded_shop

pytestmark = pytest.mark.slow

# a line on stderr (-v logging) that tells the phase has been reached
PHASES = {
    "worktrees": "git worktree add",
    "booting": "launching ",
    "steps": "app ready after",
    "second-side": "worktree candidate",
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_at_each_phase(phase: str, tmp_path: Path, git_env: None) -> None:
    repo = seeded_shop(tmp_path / "shop")
    before = snapshot(repo)
    code, err = interrupt_at(["verify", "checkout-perf.yaml", "--patch",
                              str(fix("checkout-n-plus-one.patch"))], repo, PHASES[phase])
    assert code == 130, err
    assert "interrupted" in err
    assert snapshot(repo) == before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []
