"""Ctrl-C at each phase of `cleanloop verify`: no worktree, no process, the tree as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    proc = subprocess.Popen(
        [sys.executable, "-m", "loop.cli", "-v", "verify", "checkout-perf.yaml",
         "--patch", str(fix("checkout-n-plus-one.patch"))],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if PHASES[phase] in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("phase marker never appeared:\n" + "".join(seen[-20:]))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen[-10:]) + err
    assert "interrupted" in err
    assert snapshot(repo) == before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []
