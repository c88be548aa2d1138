"""`cleanloop fix` end to end on the real shop app: the loop, its outcomes, the landed branch.

Every test runs the CLI in-process inside a seeded shop repository whose user tree is dirty
(branch `work`, staged and unstaged edits, an untracked file). After each test the `shop`
fixture proves that tree, index and branch are byte-identical, that no worktree is left and
that no process mentions the repository.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.cli.main import main
from tests.processes import processes_mentioning
from tests.repo_state import assert_no_worktrees, sh, snapshot
from tests.shop_repo import fix, make_patch, seeded_shop

pytestmark = pytest.mark.slow

PY = shlex.quote(sys.executable)
#: sleeps "forever" and names the worktree on its command line, so a leak would be visible
HANG = f"{PY} -c 'import signal; signal.pause()' {{worktree}}"


@dataclass
class Shop:
    repo: Path
    before: dict[str, object]
    landed: str = ""            # the branch the test expects cleanloop to create, if any

    def fixes(self) -> list[Path]:
        return sorted((self.repo / ".cleanloop" / "fixes").iterdir())


@pytest.fixture
def shop(tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    repo = seeded_shop(tmp_path / "shop")
    monkeypatch.chdir(repo)
    state = Shop(repo, snapshot(repo))
    yield state
    # the user's tree, index, branch and refs as they were (plus the landed branch, if any)
    ignore = f"refs/heads/{state.landed}" if state.landed else None
    assert snapshot(repo, ignore_ref=ignore) == state.before
    assert_no_worktrees(repo)
    assert processes_mentioning(str(repo)) == []


def run_fix(capsys: pytest.CaptureFixture[str], scenario: str,
            *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["fix", scenario, "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def scripted(*patches: str) -> list[str]:
    args = ["--agent", "scripted"]
    for name in patches:
        args += ["--script-patch", str(fix(name))]
    return args


def patch_files(patch: Path) -> set[str]:
    return {line[6:] for line in patch.read_text().splitlines() if line.startswith("+++ b/")}


def assert_branch_is_base_plus(repo: Path, tmp: Path, base: str, branch: str,
                               patch: Path) -> None:
    """One commit on `base` whose tree is exactly base + `patch` (applied in a scratch clone)."""
    assert sh(repo, "rev-parse", f"{branch}^").strip() == base
    assert sh(repo, "rev-list", "--count", f"{base}..{branch}").strip() == "1"
    assert set(sh(repo, "diff", "--name-only", base, branch).split()) == patch_files(patch)
    clone = tmp / "scratch-clone"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--detach", base], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", str(patch)], check=True)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    expected = sh(clone, "write-tree").strip()
    assert sh(repo, "rev-parse", f"{branch}^{{tree}}").strip() == expected


def read_verdict(attempt: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(attempt["verdict"]).read_text())
    return data


@pytest.mark.browser
def test_ui_bug_is_fixed_on_the_second_attempt_after_a_wrong_one(
        shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_fix(capsys, "ui-add-to-cart.yaml",
                            *scripted("add-to-cart-wrong.patch", "add-to-cart.patch"))
    assert (code, summary["outcome"]) == (0, "fixed"), summary
    assert summary["reproduction"]["verdict"] == "fail"
    first, second = summary["attempts"]
    assert (first["iteration"], first["outcome"]) == (1, "reject")
    # the reason names the expectation that still fails on the wrong fix
    assert "cart-count" in first["reason"] and "expectation failed" in first["reason"]
    assert read_verdict(first)["verdict"] == "reject"
    assert (second["iteration"], second["outcome"]) == (2, "accept")
    assert read_verdict(second)["verdict"] == "accept"
    # the second agent was told why the first attempt was rejected
    prompt = (Path(second["dir"]) / "prompt.md").read_text()
    assert "cart-count" in prompt and "reject" in prompt
    branch = summary["branch"]
    assert branch.startswith("cleanloop/ui-add-to-cart-")
    shop.landed = branch
    assert_branch_is_base_plus(shop.repo, tmp_path, summary["base"], branch,
                               fix("add-to-cart.patch"))
    # the message says what the fix changed, from the reproduction to the accepted candidate
    message = sh(shop.repo, "log", "-1", "--format=%B", branch)
    assert message.splitlines()[0] == "cleanloop: fix ui-add-to-cart (console.errors == 0: 1 -> 0)"
    assert "- page.errors == 0: 1 -> 0 (ok)" in message
    assert "- step #3 (cart-count): failed on the base, passes on the candidate" in message


def test_perf_fix_lands_exactly_the_agents_diff_with_numbers_in_the_message(
        shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, summary = run_fix(capsys, "checkout-perf.yaml", *scripted("checkout-n-plus-one.patch"))
    assert (code, summary["outcome"]) == (0, "fixed"), summary
    [attempt] = summary["attempts"]
    assert attempt["outcome"] == "accept"
    assert attempt["diff_stat"].startswith("1 file(s)") and "app/checkout.py" in attempt[
        "diff_stat"]
    branch, base = summary["branch"], summary["base"]
    assert branch.startswith("cleanloop/checkout-perf-")
    shop.landed = branch
    assert base == sh(shop.repo, "rev-parse", "HEAD").strip()
    assert_branch_is_base_plus(shop.repo, tmp_path, base, branch,
                               fix("checkout-n-plus-one.patch"))
    # what landed is what the agent's attempt recorded, byte for byte
    landed = sh(shop.repo, "diff", "--binary", "--full-index", base, branch)
    assert landed == (Path(attempt["dir"]) / "diff.patch").read_text()
    message = sh(shop.repo, "log", "-1", "--format=%B", branch)
    title = message.splitlines()[0]
    assert 'span("POST /api/checkout").p95' in title and "->" in title and "ms" in title
    assert "attempt 1" in message


def test_tampering_hanging_and_idle_agents_until_max_iterations(
        shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    agent = ("case {iteration} in "
             "1) mkdir -p {worktree}/tests && echo 'assert True' > {worktree}/tests/x.py"
             " && echo 'PRICE_FEED = None' >> {worktree}/app/catalog.py ;; "
             f"2) {HANG} & {HANG} ;; "
             "*) echo 'looked around, changed nothing' ;; esac")
    code = main(["fix", "error-log.yaml", "--agent", agent, "--max-iterations", "3",
                 "--agent-timeout", "2s"])
    out = capsys.readouterr().out
    assert code == 1, out
    [fix_dir] = shop.fixes()
    summary = json.loads((fix_dir / "summary.json").read_text())
    assert summary["outcome"] == "exhausted" and summary["branch"] == ""
    tampered, hung, idle = summary["attempts"]

    # 1: touches tests/ -> rejected as tampering, no verify run
    assert tampered["outcome"] == "tampered"
    assert "tests/x.py" in tampered["reason"] and "app/catalog.py" not in tampered["reason"]
    assert not (Path(tampered["dir"]) / "verdict.json").exists()
    assert tampered["verdict"] == ""
    runs = [p.name for p in (shop.repo / ".cleanloop" / "runs").iterdir()]
    assert not [r for r in runs if "verify" in r], runs

    # 2: hangs -> killed at its time limit (with its background child), the loop went on
    assert hung["outcome"] == "timeout" and "2s time limit" in hung["reason"]
    assert not (Path(hung["dir"]) / "verdict.json").exists()

    # 3: ran (after the timeout) and changed nothing
    assert idle["outcome"] == "no-diff" and "exit code 0" in idle["reason"]
    assert "changed nothing" in (Path(idle["dir"]) / "agent.stdout").read_text()
    assert (Path(idle["dir"]) / "diff.patch").read_text() == ""

    # stdout summarises every attempt
    assert out.startswith("NOT FIXED")
    for n, outcome in ((1, "TAMPERED"), (2, "TIMEOUT"), (3, "NO-DIFF")):
        assert f"attempt {n}: {outcome}" in out
    assert "report: " in out and (fix_dir / "report.md").exists()


def test_editing_the_scenario_is_tampering(
        shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    agent = "sed -i 's/count == 0/count < 1000/' {worktree}/error-log.yaml"
    code, summary = run_fix(capsys, "error-log.yaml", "--agent", agent, "--max-iterations", "1")
    assert (code, summary["outcome"]) == (1, "exhausted")
    [attempt] = summary["attempts"]
    assert attempt["outcome"] == "tampered"
    assert "error-log.yaml" in attempt["reason"]
    assert "count < 1000" in (Path(attempt["dir"]) / "diff.patch").read_text()
    assert not (Path(attempt["dir"]) / "verdict.json").exists()


def test_scenario_that_does_not_reproduce_stops_before_any_agent(
        shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixed = commit_outside_the_user_tree(shop.repo, tmp_path, fix("error-log.patch"))
    marker = tmp_path / "agent-ran"
    code, summary = run_fix(capsys, "error-log.yaml", "--base", fixed,
                            "--agent", f"touch {shlex.quote(str(marker))}")
    assert (code, summary["outcome"]) == (1, "not-reproduced"), summary
    assert summary["attempts"] == [] and summary["base"] == fixed
    assert summary["reproduction"]["verdict"] == "pass"
    assert not marker.exists()
    [fix_dir] = shop.fixes()
    assert not list(fix_dir.glob("attempt-*"))


def test_passing_checks_are_not_reproduced_even_with_targets(
        shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # startup.yaml has a target (improves >= 20%) besides its checks; they pass once fixed
    fixed = commit_outside_the_user_tree(shop.repo, tmp_path, fix("startup.patch"))
    marker = tmp_path / "agent-ran"
    code, summary = run_fix(capsys, "startup.yaml", "--base", fixed,
                            "--agent", f"touch {shlex.quote(str(marker))}")
    assert (code, summary["outcome"]) == (1, "not-reproduced"), summary
    assert summary["attempts"] == [] and not marker.exists()


def test_base_that_cannot_boot_is_an_error_recorded_as_such(
        shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = commit_outside_the_user_tree(shop.repo, tmp_path, make_patch(tmp_path, {
        "app/api.py": ('@bp.get("/api/products")\n',
                       'raise RuntimeError("config key SHOP_DB missing")\n\n\n'
                       '@bp.get("/api/products")\n')}))
    marker = tmp_path / "agent-ran"
    code = main(["fix", "error-log.yaml", "--base", broken,
                 "--agent", f"touch {shlex.quote(str(marker))}"])
    assert code == 3
    assert "config key SHOP_DB missing" in capsys.readouterr().err
    assert not marker.exists()
    [fix_dir] = shop.fixes()
    summary = json.loads((fix_dir / "summary.json").read_text())
    assert (summary["outcome"], summary["attempts"]) == ("error", [])


def commit_outside_the_user_tree(repo: Path, tmp: Path, patch: Path) -> str:
    """A commit (no ref) of HEAD + patch, made in a scratch clone and fetched back."""
    clone = tmp / "fixed-clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", str(patch)], check=True)
    subprocess.run(["git", "-C", str(clone), "commit", "-qam", "fix the error log"], check=True)
    # objects only: FETCH_HEAD is not a ref, the snapshot does not see it
    subprocess.run(["git", "-C", str(repo), "fetch", "-q", str(clone), "HEAD"], check=True)
    return sh(clone, "rev-parse", "HEAD").strip()
