"""Ctrl-C at each phase of `cleanloop verify`: no worktree, no process, the tree as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.interrupt import interrupt_at
from tests.processes import processes_mentioning
from tests.repo_state import assert_no_worktrees, snapshot
from tests.shop_repo import fix, seeded_shop

pytestmark = pytest.mark.slow

# a line on stderr (-v logging) that tells the phase has been reached, and which time
# it shows (runs alternate A B, B A: the first candidate run is the second run)
PHASES: dict[str, tuple[str | re.Pattern[str], int]] = {
    "worktrees": ("git worktree add", 1),
    "patching": ("worktree candidate", 1),
    "baseline-booting": ("launching ", 1),
    "baseline-steps": ("app ready after", 1),
    "candidate-booting": (re.compile(r"launching .* in .*/candidate(/|$)"), 1),
    "candidate-steps": ("app ready after", 2),
    "later-runs": ("app ready after", 5),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigint_at_each_phase(phase: str, tmp_path: Path, git_env: None) -> None:
    repo = seeded_shop(tmp_path / "shop")
    before = snapshot(repo)
    marker, occurrence = PHASES[phase]
    code, err = interrupt_at(["verify", "checkout-perf.yaml", "--patch",
                              str(fix("checkout-n-plus-one.patch"))], repo, marker,
                             occurrence=occurrence)
    assert code == 130, err
    assert "interrupted" in err
    assert snapshot(repo) == before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []
