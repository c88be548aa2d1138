"""The scripted agent: a real program that applies prepared patches, one per iteration.

    python -m cleanloop.loop.fix.agents.scripted --patch A --patch B ... \
        --worktree DIR --iteration N

Iteration N (1-based) applies patch number N with `git apply` inside the worktree and
prints what it did. A patch given as the literal word `none` makes no change; with no
patch left for this iteration it says so and makes no change. Exit 0 on success, 1 when
the patch does not apply, 2 on bad arguments. cleanloop runs it through the same shell
template code path as any user command (`--agent scripted --script-patch FILE ...`), so
demos and tests exercise the real agent machinery without a model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cleanloop.loop.base.errors import WorktreeError
from cleanloop.loop.vcs.git import run_git

NONE = "none"


def apply_iteration(patches: Sequence[str], worktree: Path, iteration: int,
                    out: TextIO, err: TextIO) -> int:
    """Apply the patch for `iteration` to `worktree`; returns the exit code."""
    if iteration < 1:
        err.write(f"scripted agent: --iteration must be >= 1, got {iteration}\n")
        return 2
    if iteration > len(patches):
        out.write(f"scripted agent, iteration {iteration}: no patch left "
                  f"({len(patches)} given); making no change\n")
        return 0
    patch = patches[iteration - 1]
    if patch == NONE:
        out.write(f"scripted agent, iteration {iteration}: patch 'none'; making no change\n")
        return 0
    path = Path(patch).resolve()
    try:
        stat = run_git(worktree, "apply", "--stat", str(path))
        result = run_git(worktree, "apply", "--whitespace=nowarn", str(path))
    except WorktreeError as exc:
        err.write(f"scripted agent: {exc}\n")
        return 1
    if not result.ok:
        err.write(f"scripted agent, iteration {iteration}: patch {path} does not apply in "
                  f"{worktree}:\n{result.stderr}")
        return 1
    out.write(f"scripted agent, iteration {iteration}: applied {path}\n{stat.stdout}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cleanloop.loop.fix.agents.scripted",
                                     description="apply patch number ITERATION to WORKTREE")
    parser.add_argument("--patch", action="append", default=[],
                        help="a patch file, or 'none' (repeat; one per iteration)")
    parser.add_argument("--worktree", type=Path, required=True)
    parser.add_argument("--iteration", type=int, required=True)
    args = parser.parse_args(argv)
    return apply_iteration(args.patch, args.worktree, args.iteration, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
