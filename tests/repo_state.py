"""Helpers to prove a user's repository was left exactly as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cleanloop.loop.vcs.worktree import WORKTREES_DIR


def sh(repo: Path, *args: str) -> str:
    """Plain git, independent of the code under test."""
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "global-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def snapshot(repo: Path, ignore_ref: str | None = None) -> dict[str, object]:
    refs = [line for line in sh(repo, "for-each-ref").splitlines()
            if ignore_ref is None or not line.endswith(ignore_ref)]
    files = {p.relative_to(repo).as_posix(): p.read_bytes() for p in sorted(repo.rglob("*"))
             if p.is_file() and p.relative_to(repo).parts[0] not in (".git", ".cleanloop")}
    return {
        "status": sh(repo, "status", "--porcelain=v2", "--branch", "--show-stash",
                     "--untracked-files=all"),
        "diff": sh(repo, "diff", "--binary"), "cached": sh(repo, "diff", "--cached", "--binary"),
        "ls-files": sh(repo, "ls-files", "--stage"), "stash": sh(repo, "stash", "list"),
        "head": sh(repo, "rev-parse", "HEAD"), "symbolic": sh(repo, "symbolic-ref", "HEAD"),
        "refs": refs, "files": files, "config": (repo / ".git" / "config").read_bytes(),
    }


def worktree_paths(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in sh(repo, "worktree", "list", "--porcelain")
            .splitlines() if line.startswith("worktree ")]


def assert_no_worktrees(repo: Path) -> None:
    assert worktree_paths(repo) == [str(repo.resolve())]
    root = repo / WORKTREES_DIR
    assert not root.exists() or list(root.iterdir()) == []


