"""Git worktrees for baseline and candidate that never touch the user's work.

Layout: `<top>/.cleanloop/worktrees/<run_id>/` holds an `owner` file (pid and process start
time) and one detached worktree per label (`baseline`, `candidate`, `attempt-2`, ...).

Safety: only `git worktree add --detach`, commands run *inside* a worktree (which has its
own index and HEAD) and `git branch <new>` ever touch the repository, so the user's work
tree, index, stash, HEAD and branches stay as they were. Worktrees are removed on every
exit path (Ctrl-C included, see `close`); worktrees of a run that was killed are found
through their owner file and removed by the next `WorktreeManager`. Only worktrees under
`.cleanloop/worktrees/` are ever removed: no repository-wide `git worktree prune`, which
could drop the metadata of a user's worktree that lives on an unmounted drive.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cleanloop.loop.base.errors import WorktreeError
from cleanloop.loop.store.run_store import ensure_state_dir
from cleanloop.loop.vcs.git import git, git_env, resolve_commit, run_git, toplevel

logger = logging.getLogger(__name__)

WORKTREES_DIR = Path(".cleanloop") / "worktrees"
OWNER_FILE = "owner"
FALLBACK_NAME, FALLBACK_EMAIL = "cleanloop", "cleanloop@localhost"
#: a run directory still being claimed (no owner file yet) is left alone this long
CLAIM_GRACE_S = 60.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STAGING_PREFIX = ".new-"
_DIFF_OPTS = ("--binary", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv",
              "--no-renames", "--src-prefix=a/", "--dst-prefix=b/")
#: cleanloop's own state inside a worktree is never part of its diff
_NOT_STATE = ("--", ".", ":(exclude).cleanloop")


@dataclass
class Worktree:
    path: Path
    commit: str
    label: str

    def _stage_all(self) -> None:
        git(self.path, "add", "-A", *_NOT_STATE)

    def diff(self, against: str | None = None) -> str:
        """Everything changed vs the base commit (or `against`), new untracked files included."""
        self._stage_all()
        return git(self.path, "diff", "--cached", *_DIFF_OPTS, against or self.commit)

    def changed_paths(self) -> list[str]:
        """The repo-relative paths `diff()` covers."""
        self._stage_all()
        out = git(self.path, "diff", "--cached", "--name-only", "-z", "--no-renames",
                  self.commit)
        return sorted(p for p in out.split("\0") if p)

    def apply_patch(self, patch: Path | str) -> None:
        """Apply a patch file (Path) or patch text (str) to this worktree's files."""
        if isinstance(patch, Path):
            name = str(patch)
            try:
                text = patch.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError as exc:
                raise WorktreeError(f"cannot read patch {patch}: {exc}") from exc
        else:
            name, text = "<patch text>", patch
        if not text.strip():
            raise WorktreeError(f"patch {name} is empty")
        result = run_git(self.path, "apply", "--whitespace=nowarn", input=text)
        if not result.ok:
            raise WorktreeError(
                f"patch {name} does not apply to the {self.label} worktree "
                f"(commit {self.commit[:12]}): {result.stderr.strip()}")


def _default_run_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{os.getpid()}-{secrets.token_hex(2)}"


def _check_name(kind: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise WorktreeError(f"invalid worktree {kind} {name!r}: use letters, digits, '.-_'")


def _start_time(pid: int) -> str | None:
    """The start time (clock ticks after boot) of a live process; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_line() -> str:
    pid = os.getpid()
    return f"{pid} {_start_time(pid) or '-'}\n"


def _owner_alive(run_dir: Path) -> bool:
    try:
        pid_text, start = (run_dir / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if Path("/proc/self/stat").exists():
        return start != "-" and _start_time(pid) == start
    try:                                    # no /proc: the pid alone has to do
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _registered(top: Path) -> list[Path]:
    out = git(top, "worktree", "list", "--porcelain")
    return [Path(line[len("worktree "):]) for line in out.splitlines()
            if line.startswith("worktree ")]


def _under(path: Path, parent: Path) -> bool:
    return path.resolve().is_relative_to(parent.resolve())


def _discard(top: Path, path: Path) -> None:
    """Remove one of our worktrees, however broken: git first, then the directory itself."""
    path = path.resolve()
    if path in _registered(top):
        git(top, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists():
        logger.info("removing leftover worktree directory %s", path)
        shutil.rmtree(path, ignore_errors=True)
    if path in _registered(top):     # its directory is gone now, so git drops the entry
        git(top, "worktree", "remove", "--force", "--force", str(path), check=False)
    if path.exists() or path in _registered(top):
        raise WorktreeError(f"could not remove worktree {path}")


def _discard_run(top: Path, run_dir: Path) -> list[Path]:
    targets = {p for p in _registered(top) if _under(p, run_dir)}
    targets |= {p.resolve() for p in run_dir.iterdir() if p.is_dir()}
    for path in sorted(targets):
        try:
            _discard(top, path)
        except WorktreeError as exc:
            logger.warning("stale worktree left behind: %s", exc)
    shutil.rmtree(run_dir, ignore_errors=True)
    return sorted(targets)


class WorktreeManager:
    """Creates detached worktrees for one run and removes them all on close / exit."""

    def __init__(self, repo: Path, run_id: str | None = None) -> None:
        self.repo = toplevel(repo)
        ensure_state_dir(self.repo)
        self.recovered = self.recover_stale(self.repo)
        self.run_id = run_id or _default_run_id()
        _check_name("run id", self.run_id)
        self.run_dir = self._claim_run_dir()
        self._worktrees: list[Worktree] = []
        self._closed = False

    def _claim_run_dir(self) -> Path:
        root = self.repo / WORKTREES_DIR
        root.mkdir(parents=True, exist_ok=True)
        final = root / self.run_id
        if final.exists():
            raise WorktreeError(f"worktree run directory {final} already exists")
        # the owner file exists before the directory gets its real name: recovery never
        # sees a run directory without an owner
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=root))
        (staging / OWNER_FILE).write_text(_owner_line())
        staging.rename(final)
        return final

    @property
    def worktrees(self) -> list[Worktree]:
        return list(self._worktrees)

    def create(self, rev: str, label: str) -> Worktree:
        if self._closed:
            raise WorktreeError("this WorktreeManager is closed")
        _check_name("label", label)
        if any(w.label == label for w in self._worktrees):
            raise WorktreeError(f"a worktree labelled {label!r} already exists in this run")
        sha = resolve_commit(self.repo, rev)
        wt = Worktree(self.run_dir / label, sha, label)
        self._worktrees.append(wt)            # registered first: close() covers a Ctrl-C here
        try:
            git(self.repo, "worktree", "add", "--detach", str(wt.path), sha)
        except WorktreeError:
            try:
                self.remove(wt)
            except WorktreeError as exc:
                logger.warning("%s", exc)
            raise
        logger.info("worktree %s at %s (%s): %s", label, rev, sha[:12], wt.path)
        return wt

    def remove(self, wt: Worktree) -> None:
        """Remove one worktree; idempotent."""
        _discard(self.repo, wt.path)
        self._worktrees = [w for w in self._worktrees if w is not wt]

    def close(self) -> None:
        """Remove every worktree of this run, then the run directory; idempotent.

        A Ctrl-C during cleanup does not stop it: cleanup finishes, then the
        KeyboardInterrupt is raised (a fourth one gives up and leaves it to recovery).
        """
        if self._closed:
            return
        interrupts, failures = 0, []
        pending = list(reversed(self._worktrees))
        while pending:
            try:
                self.remove(pending[0])
                pending.pop(0)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts > 3:
                    raise
            except (WorktreeError, OSError) as exc:
                failures.append(str(exc))
                pending.pop(0)
        if not failures:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self._closed = True
        if interrupts:
            raise KeyboardInterrupt
        if failures:
            raise WorktreeError("; ".join(failures))

    def __enter__(self) -> WorktreeManager:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.close()
        except WorktreeError as err:
            if exc_type is None:
                raise
            logger.error("while handling %s: %s", exc_type.__name__, err)

    @staticmethod
    def recover_stale(repo: Path) -> list[Path]:
        """Remove the worktrees of runs whose owning process is gone; return their paths."""
        top = toplevel(repo)
        root = (top / WORKTREES_DIR).resolve()
        removed: list[Path] = []
        if root.is_dir():
            for run_dir in sorted(root.iterdir()):
                if not run_dir.is_dir() or _owner_alive(run_dir):
                    continue
                if not (run_dir / OWNER_FILE).exists() and \
                        time.time() - run_dir.stat().st_mtime < CLAIM_GRACE_S:
                    continue                  # another manager is claiming it right now
                logger.info("recovering worktrees of dead run %s", run_dir.name)
                removed += _discard_run(top, run_dir)
        for path in _registered(top):       # git entries whose run directory is gone
            if _under(path, root) and not (root / path.relative_to(root).parts[0]).exists():
                try:
                    _discard(top, path)
                    removed.append(path)
                except WorktreeError as exc:
                    logger.warning("stale worktree left behind: %s", exc)
        return removed


def _identity_env(top: Path) -> dict[str, str]:
    """Fallback author/committer (as env for one command) for what nobody configured."""
    env: dict[str, str] = {}
    for role in ("author", "committer"):
        for field, fallback in (("name", FALLBACK_NAME), ("email", FALLBACK_EMAIL)):
            var = f"GIT_{role.upper()}_{field.upper()}"
            if git_env().get(var):
                continue
            if any(git(top, "config", "--get", f"{section}.{field}", check=False).strip()
                   for section in (role, "user")):
                continue
            env[var] = fallback
    return env


def commit_on_new_branch(repo: Path, base: str, diff: str, branch: str, message: str) -> str:
    """Commit `diff` on top of `base` as new branch `branch`, without touching HEAD,
    index or work tree of the user's repository. Returns the new commit's sha."""
    top = toplevel(repo)
    if not run_git(top, "check-ref-format", f"refs/heads/{branch}").ok:
        raise WorktreeError(f"invalid branch name {branch!r}")
    if run_git(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").ok:
        raise WorktreeError(f"branch {branch!r} already exists; refusing to overwrite it")
    if not diff.strip():
        raise WorktreeError(f"refusing to create branch {branch!r} from an empty diff")
    sha = resolve_commit(top, base)
    with WorktreeManager(top, run_id=f"commit-{_default_run_id()}") as manager:
        wt = manager.create(sha, "commit")
        applied = run_git(wt.path, "apply", "--index", "--whitespace=nowarn", input=diff)
        if not applied.ok:
            raise WorktreeError(f"the diff for branch {branch!r} does not apply to {base!r} "
                                f"({sha[:12]}): {applied.stderr.strip()}")
        git(wt.path, "commit", "--quiet", "--no-verify", "-m", message, env=_identity_env(top))
        new = git(wt.path, "rev-parse", "HEAD").strip()
        git(top, "branch", "--no-track", branch, new)
    logger.info("branch %s created at %s (base %s)", branch, new[:12], sha[:12])
    return new
