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
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping

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


def invocation_env(*, worktree: str, evidence_dir: str, iteration: int,
                   prompt_file: str) -> dict[str, str]:
    """The CLEANLOOP_* variables one agent invocation gets."""
    return {
        CLEANLOOP_WORKTREE: worktree,
        CLEANLOOP_EVIDENCE: evidence_dir,
        CLEANLOOP_ITERATION: str(iteration),
        CLEANLOOP_PROMPT_FILE: prompt_file,
    }
