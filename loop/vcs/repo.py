"""Where things live: the git top level of the current directory, the state dir."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from cleanloop.loop.base.envvars import CLEANLOOP_HOME


def git_toplevel(start: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=start,
                             capture_output=True, text=True, check=False)
    except OSError:
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def state_root(env: Mapping[str, str], cwd: Path | None = None) -> Path:
    """The directory that holds `.cleanloop/`: $CLEANLOOP_HOME (in `env`, the environment the
    command line read once), the git top level, or cwd."""
    if env.get(CLEANLOOP_HOME):
        return Path(env[CLEANLOOP_HOME])
    cwd = cwd or Path.cwd()
    return git_toplevel(cwd) or cwd
