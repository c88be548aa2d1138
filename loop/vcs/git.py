"""A thin, typed way to run git, plus read-only helpers over revisions.

Every call runs `git -C <repo>` in its own process group with hooks and automatic gc
switched off, and with the repository-locating environment variables (GIT_DIR,
GIT_INDEX_FILE, ...) removed, so a command can never be redirected at the user's index
by the caller's environment. Calls that change state are logged at INFO.

On Ctrl-C the running git command is allowed to finish (it did not receive the
signal: it is in its own process group), so it never leaves half-written state behind;
the KeyboardInterrupt then propagates. A second Ctrl-C kills it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cleanloop.loop.base.errors import RevisionError, WorktreeError

logger = logging.getLogger(__name__)

#: config every call runs with: no user hooks, no background gc, no prompts for signing
SAFE_CONFIG = (
    "core.hooksPath=/dev/null", "gc.auto=0", "maintenance.auto=false", "commit.gpgSign=false",
)
#: variables that would point git at another repository, index or work tree
_LOCATING_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX",
    "GIT_NAMESPACE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
)
_MUTATING = {"add", "apply", "branch", "commit", "update-ref", "reset", "checkout"}
_WORKTREE_READONLY = {"list"}


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _changes_state(args: tuple[str, ...]) -> bool:
    if not args:
        return False
    if args[0] == "worktree":
        return len(args) > 1 and args[1] not in _WORKTREE_READONLY
    return args[0] in _MUTATING


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every git command runs with: the one cleanloop was started with (git
    finds the user's config, credentials and identity there, as it would in their shell),
    without the variables that would point it at another repository, no prompts, and `extra`.
    The one place cleanloop hands its own environment to git."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCATING_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.update(extra or {})
    return env


def _wait(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C went to our process group, not git's: let git finish, then propagate.
        try:
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        raise


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="surrogateescape")


def run_git(repo: Path, *args: str, input: str | None = None,
            env: Mapping[str, str] | None = None) -> GitResult:
    """Run `git -C repo args...`; never raises for a non-zero exit (see `git`)."""
    argv = ["git", "-C", str(repo)]
    for item in SAFE_CONFIG:
        argv += ["-c", item]
    argv += args
    if _changes_state(args):
        logger.info("git %s (in %s)", " ".join(args), repo)
    else:
        logger.debug("git %s (in %s)", " ".join(args), repo)
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        if input is not None:
            stdin.write(input.encode("utf-8", errors="surrogateescape"))
            stdin.seek(0)
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err,
                                    env=git_env(env), process_group=0)
        except OSError as exc:
            raise WorktreeError(f"cannot run git: {exc}") from exc
        code = _wait(proc)
        return GitResult(tuple(args), code, _read(out), _read(err))


def git(repo: Path, *args: str, check: bool = True, input: str | None = None,
        env: Mapping[str, str] | None = None) -> str:
    """Run git in `repo` and return its stdout; WorktreeError with git's stderr on failure."""
    result = run_git(repo, *args, input=input, env=env)
    if check and not result.ok:
        message = result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}"
        raise WorktreeError(f"git {' '.join(args)} failed in {repo}: {message}")
    return result.stdout


def toplevel(repo: Path) -> Path:
    """The top level of the work tree holding `repo` (resolved)."""
    result = run_git(repo, "rev-parse", "--show-toplevel")
    if not result.ok or not result.stdout.strip():
        raise WorktreeError(f"{repo} is not inside a git work tree: {result.stderr.strip()}")
    return Path(result.stdout.strip()).resolve()


def resolve_commit(repo: Path, ref: str) -> str:
    """The full sha of the commit `ref` names; RevisionError("unknown revision ...") (a usage
    error, exit 2) if there is none."""
    unknown = f"unknown revision {ref!r} in {repo}: no commit, branch or tag by that name"
    if not ref or ref.startswith("-"):
        raise RevisionError(unknown)
    result = run_git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    sha = result.stdout.strip()
    if not result.ok or not sha:
        raise RevisionError(unknown)
    return sha


def read_file_at(repo: Path, rev: str, relpath: str) -> str:
    """The content of `relpath` (repo-relative) at revision `rev`, whatever the work tree holds;
    RevisionError (exit 2) naming the path and the revision when it is not there."""
    sha = resolve_commit(repo, rev)
    spec = f"{sha}:{relpath.lstrip('/')}"
    result = run_git(repo, "cat-file", "blob", spec)
    if not result.ok:
        at = sha[:12] if rev == sha else f"{rev!r} ({sha[:12]})"
        raise RevisionError(f"{relpath} does not exist at revision {at}")
    return result.stdout


def repo_relative(repo: Path, path: Path) -> str:
    """`path` (absolute, or relative to `repo`) as a posix path relative to the git top level."""
    top = toplevel(repo)
    full = (path if path.is_absolute() else Path(repo) / path).resolve()
    try:
        return full.relative_to(top).as_posix()
    except ValueError:
        raise RevisionError(f"{path} is outside the git repository {top}") from None
