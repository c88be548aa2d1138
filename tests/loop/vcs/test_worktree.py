"""Worktrees against real git: the user's dirty repository must come out byte-identical."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cleanloop.loop.base.errors import WorktreeError
from cleanloop.loop.vcs.git import git, read_file_at, repo_relative, resolve_commit
from cleanloop.loop.vcs.worktree import (
    OWNER_FILE,
    WORKTREES_DIR,
    WorktreeManager,
    commit_on_new_branch,
)
from tests.repo_state import assert_no_worktrees, sh, snapshot, worktree_paths

PROJECT = Path(__file__).resolve().parents[3]
BINARY = bytes(range(256)) * 4
READY_TIMEOUT_S = 60.0


@pytest.fixture(autouse=True)
def _git_env(git_env: None) -> None:
    """Every test here runs git with a private config and a fixed identity."""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo on branch `feature` with a stash entry, unstaged, staged and untracked changes."""
    root = tmp_path / "user repo"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    (root / "src").mkdir()
    (root / "README.md").write_text("hello\n")
    (root / "src" / "app.py").write_text("def f():\n    return 1\n")
    (root / "old.txt").write_text("to be deleted\n")
    (root / "data.bin").write_bytes(BINARY)
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "base")
    sh(root, "checkout", "-q", "-b", "feature")
    (root / "src" / "app.py").write_text("def f():\n    return 2\n")
    sh(root, "commit", "-q", "-am", "feature work")
    (root / "README.md").write_text("stashed change\n")
    sh(root, "stash", "-q")
    (root / "src" / "app.py").write_text("def f():\n    return 3  # unstaged\n")
    (root / "README.md").write_text("staged change\n")
    sh(root, "add", "README.md")
    (root / "notes.txt").write_text("untracked\n")
    return root


def edit_like_an_agent(path: Path) -> None:
    (path / "src" / "app.py").write_text("def f():\n    return 42\n")
    (path / "src" / "new.py").write_text("NEW = True\n")
    (path / "new.bin").write_bytes(BINARY[::-1])
    (path / "old.txt").unlink()


def test_create_apply_diff_and_changed_paths(repo: Path, tmp_path: Path) -> None:
    before = snapshot(repo)
    with WorktreeManager(repo) as manager:
        attempt = manager.create("main", "attempt-1")
        edit_like_an_agent(attempt.path)
        diff = attempt.diff()
        assert "diff --git a/src/new.py b/src/new.py\nnew file mode" in diff
        assert "GIT binary patch" in diff and "deleted file mode" in diff
        paths = attempt.changed_paths()
        assert paths == ["new.bin", "old.txt", "src/app.py", "src/new.py"]

        baseline = manager.create("main", "baseline")
        candidate = manager.create("main", "candidate")
        assert baseline.commit == candidate.commit == resolve_commit(repo, "main")
        assert baseline.path == repo.resolve() / WORKTREES_DIR / manager.run_id / "baseline"
        patch = tmp_path / "fix.patch"
        patch.write_text(diff)
        candidate.apply_patch(patch)
        assert candidate.changed_paths() == paths
        assert candidate.diff() == diff
        assert (candidate.path / "new.bin").read_bytes() == BINARY[::-1]
        assert not (candidate.path / "old.txt").exists()
        assert baseline.diff() == "" and baseline.changed_paths() == []
        assert (baseline.path / "src" / "app.py").read_text() == "def f():\n    return 1\n"
        assert len(worktree_paths(repo)) == 4
        assert snapshot(repo) == before
    assert_no_worktrees(repo)
    assert snapshot(repo) == before


def test_worktree_from_another_ref_and_diff_against(repo: Path) -> None:
    with WorktreeManager(repo) as manager:
        wt = manager.create("feature", "candidate")
        assert (wt.path / "src" / "app.py").read_text() == "def f():\n    return 2\n"
        assert wt.diff() == ""
        assert "-    return 1\n+    return 2" in wt.diff(against="main")


@pytest.mark.parametrize("text", ["broken", "missing"])
def test_patch_that_does_not_apply_names_patch_and_reason(repo: Path, tmp_path: Path,
                                                          text: str) -> None:
    patch = tmp_path / "bad.patch"
    if text == "broken":
        patch.write_text("--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n"
                         " def g():\n-    return 7\n+    return 8\n")
    with WorktreeManager(repo) as manager:
        wt = manager.create("main", "candidate")
        with pytest.raises(WorktreeError) as info:
            wt.apply_patch(patch)
        assert "bad.patch" in str(info.value)
        if text == "broken":
            assert "does not apply to the candidate worktree" in str(info.value)
            assert "src/app.py" in str(info.value)      # git's own message names the file
        else:
            assert "cannot read patch" in str(info.value)
        assert wt.changed_paths() == []
    assert_no_worktrees(repo)


def test_bad_inputs_are_refused_without_leftovers(repo: Path) -> None:
    with WorktreeManager(repo) as manager:
        with pytest.raises(WorktreeError, match="unknown revision 'nope'"):
            manager.create("nope", "baseline")
        with pytest.raises(WorktreeError, match="invalid worktree label"):
            manager.create("main", "../escape")
        manager.create("main", "baseline")
        with pytest.raises(WorktreeError, match="already exists"):
            manager.create("main", "baseline")
        with pytest.raises(WorktreeError, match="empty"):
            manager.worktrees[0].apply_patch("")
    assert_no_worktrees(repo)


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_worktrees_removed_when_the_block_raises(repo: Path,
                                                 exc_type: type[BaseException]) -> None:
    before = snapshot(repo)
    with pytest.raises(exc_type), WorktreeManager(repo) as manager:
        manager.create("main", "baseline")
        edit_like_an_agent(manager.create("feature", "candidate").path)
        raise exc_type("boom")
    assert not manager.run_dir.exists()
    assert_no_worktrees(repo)
    assert snapshot(repo) == before


def test_remove_and_close_are_idempotent_even_for_a_broken_worktree(repo: Path) -> None:
    manager = WorktreeManager(repo)
    a = manager.create("main", "a")
    b = manager.create("main", "b")
    manager.remove(a)
    manager.remove(a)
    (b.path / ".git").unlink()                # git no longer recognises it as a worktree
    manager.close()
    manager.close()
    assert_no_worktrees(repo)
    with pytest.raises(WorktreeError, match="closed"):
        manager.create("main", "c")


CHILD = r"""
import signal, subprocess, sys
from pathlib import Path
import cleanloop.loop.vcs.git, cleanloop.loop.vcs.worktree
from cleanloop.loop.vcs.worktree import WorktreeManager

repo, phase, patch = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

def ready():
    print("ready", flush=True)
    signal.pause()

class HeldPopen(subprocess.Popen):
    def wait(self, timeout=None):          # Ctrl-C arrives while `git worktree add` runs
        if "add" in self.args and not getattr(HeldPopen, "done", False):
            HeldPopen.done = True
            ready()
        return super().wait(timeout)

if phase == "in-git":
    cleanloop.loop.vcs.git.subprocess.Popen = HeldPopen
if phase == "in-close":
    real = cleanloop.loop.vcs.worktree._discard
    def held(top, path):
        cleanloop.loop.vcs.worktree._discard = real
        ready()
    cleanloop.loop.vcs.worktree._discard = held

with WorktreeManager(repo) as manager:
    if phase == "entered":
        ready()
    manager.create("main", "baseline")
    candidate = manager.create("main", "candidate")
    if phase in ("created", "killed"):
        ready()
    candidate.apply_patch(patch)
    if phase == "patched":
        ready()
    candidate.diff()
    if phase == "diffed":
        ready()
"""


def wait_for_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not sel.select(timeout=0.1):
            assert proc.poll() is None, "child exited early"
            assert time.monotonic() < deadline, "child never became ready"
    assert proc.stdout.readline() == "ready\n"


@pytest.fixture
def patch_file(tmp_path: Path) -> Path:
    patch = tmp_path / "fix.patch"
    patch.write_text("--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n"
                     " def f():\n-    return 1\n+    return 42\n")
    return patch


def start_child(repo: Path, phase: str, patch: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(repo), phase, str(patch)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("phase", ["entered", "in-git", "created", "patched", "diffed",
                                   "in-close"])
def test_sigint_at_each_phase_leaves_no_worktree(repo: Path, patch_file: Path,
                                                 phase: str) -> None:
    before = snapshot(repo)
    with start_child(repo, phase, patch_file) as proc:
        wait_for_ready(proc)
        if phase != "entered":
            assert len(worktree_paths(repo)) > 1 or phase == "in-git"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=READY_TIMEOUT_S)
    assert proc.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err
    assert_no_worktrees(repo)
    assert snapshot(repo) == before


@pytest.mark.parametrize("also_delete_run_dir", [False, True])
def test_worktrees_of_a_killed_run_are_recovered(repo: Path, patch_file: Path,
                                                 also_delete_run_dir: bool) -> None:
    before = snapshot(repo)
    with start_child(repo, "killed", patch_file) as proc:
        wait_for_ready(proc)
        proc.kill()
        proc.communicate(timeout=READY_TIMEOUT_S)
    [run_dir] = list((repo / WORKTREES_DIR).iterdir())
    assert len(worktree_paths(repo)) == 3 and (run_dir / "candidate").is_dir()
    if also_delete_run_dir:             # the user rm -rf'd it: git still lists the worktrees
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    with WorktreeManager(repo) as manager:
        assert sorted(p.name for p in manager.recovered) == ["baseline", "candidate"]
        assert worktree_paths(repo) == [str(repo.resolve())]
        assert not run_dir.exists()
    assert_no_worktrees(repo)
    assert snapshot(repo) == before


def test_a_live_run_is_not_recovered(repo: Path, patch_file: Path) -> None:
    with start_child(repo, "created", patch_file) as proc:
        wait_for_ready(proc)
        with WorktreeManager(repo) as manager:
            assert manager.recovered == []
            assert len(worktree_paths(repo)) == 3
        assert len(worktree_paths(repo)) == 3
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=READY_TIMEOUT_S)
    assert_no_worktrees(repo)


def test_a_reused_pid_does_not_keep_a_run_alive(repo: Path) -> None:
    manager = WorktreeManager(repo)
    wt = manager.create("main", "baseline")
    owner = manager.run_dir / OWNER_FILE
    pid, start = owner.read_text().split()
    assert pid == str(os.getpid())
    assert WorktreeManager.recover_stale(repo) == []
    owner.write_text(f"{pid} {int(start) + 1}\n")     # same pid, another process
    assert WorktreeManager.recover_stale(repo) == [wt.path]
    assert_no_worktrees(repo)
    manager.close()


def make_diff(repo: Path) -> str:
    with WorktreeManager(repo) as manager:
        attempt = manager.create("main", "attempt")
        edit_like_an_agent(attempt.path)
        return attempt.diff()


def test_commit_on_new_branch_leaves_the_user_alone(repo: Path) -> None:
    diff = make_diff(repo)
    before = snapshot(repo)
    branch = "cleanloop/checkout-20240101-000000"
    sha = commit_on_new_branch(repo, "main", diff, branch, "cleanloop: fix checkout\n\nbody")
    assert sh(repo, "rev-parse", f"refs/heads/{branch}").strip() == sha
    assert sh(repo, "rev-parse", f"{sha}^").strip() == resolve_commit(repo, "main")
    assert sh(repo, "diff", "--binary", "--full-index", "--no-renames", "main", sha) == diff
    assert sh(repo, "log", "-1", "--format=%B", sha).startswith("cleanloop: fix checkout\n\nbody")
    author = sh(repo, "log", "-1", "--format=%an <%ae>", sha).strip()
    assert author == "Test User <test@example.com>"
    assert snapshot(repo, ignore_ref=f"refs/heads/{branch}") == before
    assert_no_worktrees(repo)

    with pytest.raises(WorktreeError, match="already exists"):
        commit_on_new_branch(repo, "main", diff, branch, "again")
    with pytest.raises(WorktreeError, match="does not apply"):
        commit_on_new_branch(repo, "feature", diff.replace("return 1", "return 9"),
                             "cleanloop/other", "x")
    assert "cleanloop/other" not in sh(repo, "branch", "--list")
    assert sh(repo, "rev-parse", f"refs/heads/{branch}").strip() == sha
    assert_no_worktrees(repo)


def test_commit_falls_back_to_a_cleanloop_identity(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    diff = make_diff(repo)
    sh(repo, "config", "user.useConfigOnly", "true")      # no guessing from the host name
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{role}_NAME")
        monkeypatch.delenv(f"GIT_{role}_EMAIL")
    config = (repo / ".git" / "config").read_bytes()
    sha = commit_on_new_branch(repo, "main", diff, "cleanloop/ident", "msg")
    assert sh(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip() == \
        "cleanloop <cleanloop@localhost>|cleanloop <cleanloop@localhost>"
    assert (repo / ".git" / "config").read_bytes() == config


def test_read_file_at_reads_the_revision_not_the_work_tree(repo: Path) -> None:
    assert read_file_at(repo, "main", "src/app.py") == "def f():\n    return 1\n"
    assert read_file_at(repo, "HEAD", "README.md") == "hello\n"
    assert read_file_at(repo / "src", "main", "README.md") == "hello\n"
    with pytest.raises(WorktreeError, match="does not exist at revision 'main'"):
        read_file_at(repo, "main", "notes.txt")
    with pytest.raises(WorktreeError, match="unknown revision"):
        read_file_at(repo, "no-such-ref", "README.md")


def test_repo_relative_and_resolve_commit(repo: Path, tmp_path: Path) -> None:
    assert repo_relative(repo, repo / "src" / "app.py") == "src/app.py"
    assert repo_relative(repo / "src", Path("app.py")) == "src/app.py"
    with pytest.raises(WorktreeError, match="outside"):
        repo_relative(repo, tmp_path / "elsewhere.txt")
    assert resolve_commit(repo, "feature") == sh(repo, "rev-parse", "feature").strip()
    with pytest.raises(WorktreeError, match="unknown revision '--all'"):
        resolve_commit(repo, "--all")


def test_git_reports_stderr_and_ignores_redirecting_env(repo: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorktreeError, match="git frobnicate failed.*frobnicate"):
        git(repo, "frobnicate")
    assert git(repo, "frobnicate", check=False) == ""
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "stray-index"))
    before = snapshot_without_env(repo)
    with WorktreeManager(repo) as manager:
        manager.create("main", "baseline").diff()
    assert not (tmp_path / "stray-index").exists()
    assert snapshot_without_env(repo) == before


def snapshot_without_env(repo: Path) -> dict[str, object]:
    saved = {k: os.environ.pop(k) for k in ("GIT_DIR", "GIT_INDEX_FILE") if k in os.environ}
    try:
        return snapshot(repo)
    finally:
        os.environ.update(saved)
