"""The environment a coding agent runs with: an allowlist, never the caller's whole env.

An agent edits code that will run; it must not see the user's cloud credentials, tokens
or database URLs. It gets:

- the basics a shell and a toolchain need (`BASE_ALLOW`: PATH, HOME, USER, LOGNAME,
  SHELL, LANG, LC_*, TERM, TMPDIR, TZ, VIRTUAL_ENV) and the commit identity
  (GIT_AUTHOR_*, GIT_COMMITTER_*),
- what its preset needs (`PRESET_ALLOW`, e.g. OPENAI_API_KEY for codex),
- the names the user allowed explicitly (`--allow-env NAME`; `*` globs allowed),
- the CLEANLOOP_* values cleanloop sets for this invocation (`invocation_env`).

Everything else (AWS_*, GITHUB_TOKEN, DATABASE_URL, PYTHONPATH, ...) is dropped. Variables
that would point git at another repository (`NEVER_PASS`: GIT_DIR, GIT_INDEX_FILE,
GIT_WORK_TREE, ...) are dropped even when allowed explicitly, so the agent's git commands
always act on its own worktree.

The prompt tells the agent to run `cleanloop run` and `cleanloop query`; that must be the
cleanloop that runs the loop, even when it was started by its path (`.venv/bin/cleanloop fix`)
and its directory is not on PATH. When the interpreter's directory holds the `cleanloop`
console script (`cleanloop_bin_dir`), `agent_env` puts that directory first on the agent's
PATH (unless PATH already finds that very script) and the prompt says `cleanloop`. Without a
script there (`python -m cleanloop` from a checkout) PATH is left alone and the prompt names
the interpreter instead: `/abs/python -m cleanloop` (`cleanloop_command`).
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

#: set by cleanloop for every agent invocation
from cleanloop.loop.base.envvars import (
    CLEANLOOP_EVIDENCE,
    CLEANLOOP_ITERATION,
    CLEANLOOP_PROMPT_FILE,
    CLEANLOOP_WORKTREE,
)

BASE_ALLOW: tuple[str, ...] = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_*", "TERM", "TMPDIR", "TZ",
    "VIRTUAL_ENV", "GIT_AUTHOR_*", "GIT_COMMITTER_*",
)
PRESET_ALLOW: dict[str, tuple[str, ...]] = {
    "codex": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_HOME"),
    "claude": ("ANTHROPIC_API_KEY", "CLAUDE_CONFIG_DIR"),
    "aider": ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AIDER_*"),
}
NEVER_PASS: tuple[str, ...] = (
    "GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX",
)


def _allowed(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def scrub_env(env: Mapping[str, str], *, preset: str | None = None,
              allow: Iterable[str] = ()) -> dict[str, str]:
    """The allowlisted part of `env` for an agent (see the module docstring)."""
    patterns = (*BASE_ALLOW, *PRESET_ALLOW.get(preset or "", ()), *allow)
    return {k: v for k, v in env.items()
            if k not in NEVER_PASS and _allowed(k, patterns)}


def agent_env(env: Mapping[str, str], *, preset: str | None = None, allow: Iterable[str] = (),
              python: str = sys.executable) -> dict[str, str]:
    """What an agent runs with: the allowlisted part of `env` (`scrub_env`), with this
    cleanloop first on PATH when it has to be put there (`with_cleanloop_on_path`)."""
    return with_cleanloop_on_path(scrub_env(env, preset=preset, allow=allow), python=python)


#: the console script's name (pyproject.toml [project.scripts])
SCRIPT = "cleanloop"


def cleanloop_bin_dir(python: str = sys.executable) -> Path | None:
    """The directory of the interpreter running cleanloop, when it holds the `cleanloop`
    console script of that installation (a virtualenv's bin/, say); None otherwise."""
    if not python or not os.path.isabs(python):     # unknown (embedded) interpreter
        return None
    bin_dir = Path(python).parent       # not resolved: a venv's python is a symlink
    script = bin_dir / SCRIPT
    return bin_dir if script.is_file() and os.access(script, os.X_OK) else None


def cleanloop_command(python: str = sys.executable) -> str:
    """How the prompt tells the agent to call cleanloop: `cleanloop`, found on the PATH
    `agent_env` builds, or the interpreter itself when no console script sits beside it."""
    if not python or cleanloop_bin_dir(python) is not None:
        return SCRIPT
    return f"{shlex.quote(python)} -m cleanloop"


def with_cleanloop_on_path(env: Mapping[str, str],
                           python: str = sys.executable) -> dict[str, str]:
    """`env` with the running cleanloop's script directory first on PATH, so that `cleanloop`
    is that same installation; unchanged when PATH already finds it or there is no script."""
    out = dict(env)
    bin_dir = cleanloop_bin_dir(python)
    if bin_dir is None:
        return out
    path = out.get("PATH", os.defpath)      # no PATH at all: what a shell would search
    found = shutil.which(SCRIPT, path=path)
    if found is not None and _same_file(found, bin_dir / SCRIPT):
        return out
    out["PATH"] = os.pathsep.join(p for p in (str(bin_dir), path) if p)
    return out


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def invocation_env(*, worktree: str, evidence_dir: str, iteration: int,
                   prompt_file: str) -> dict[str, str]:
    """The CLEANLOOP_* variables one agent invocation gets."""
    return {
        CLEANLOOP_WORKTREE: worktree,
        CLEANLOOP_EVIDENCE: evidence_dir,
        CLEANLOOP_ITERATION: str(iteration),
        CLEANLOOP_PROMPT_FILE: prompt_file,
    }
