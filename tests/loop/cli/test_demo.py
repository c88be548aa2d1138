"""`cleanloop demo`: the seeded shop repository, and the whole demo end to end."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from cleanloop.loop.cli.demo import DEMO_FIXES, DEMO_SCENARIOS, FIXES_DIR
from cleanloop.loop.cli.main import main
from tests.repo_state import sh


def test_demo_init_seeds_a_repository_the_fixes_apply_to(
        tmp_path: Path, git_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "shop"
    assert main(["demo", "--init", str(repo)]) == 0
    assert str(repo) in capsys.readouterr().out
    assert sh(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert sh(repo, "status", "--porcelain") == ""
    tracked = set(sh(repo, "ls-files").split())
    assert {"app/shop.py", "app/static/app.js", *DEMO_SCENARIOS} <= tracked
    assert not any(p.startswith("fixes/") or p.endswith(".patch") for p in tracked)
    for patch in (*DEMO_FIXES, "checkout-wrong.patch", "add-to-cart-wrong.patch"):
        subprocess.run(["git", "-C", str(repo), "apply", "--check", str(FIXES_DIR / patch)],
                       check=True)
    # a directory with something in it is refused, not overwritten
    assert main(["demo", "--init", str(repo)]) == 2
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.browser
def test_the_demo_fails_then_passes_then_loops_to_two_accepted_fixes(
        tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the demo keeps its repository
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in ("checkout-perf", "startup", "error-log", "ui-add-to-cart"):
        assert f"FAIL  {name}  (1 run" in out and f"PASS  {name}  (1 run" in out
    assert out.count("attempt 1: REJECT") == 2 and out.count("attempt 2: ACCEPT") == 2
    [repo] = tmp_path.glob("cleanloop-demo-*/shop")
    branches = sh(repo, "branch", "--list", "cleanloop/*").split()
    assert sorted(b.rsplit("-", 2)[0] for b in branches) == [
        "cleanloop/checkout-perf", "cleanloop/ui-add-to-cart"]
    assert all(b in out for b in branches)
    assert len(list(repo.glob(".cleanloop/fixes/*/report.md"))) == 2
    assert "Demo finished as expected." in out
