"""The bundled demo: the example shop with seeded bugs, seeded as a user's git repository.

`seed_repository(dir)` lays out the shop the way a user's project looks: the app
under `app/`, the scenario files at the root, one commit. `fixes/` stays behind,
and its patches apply with `git apply` at the root of that repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from cleanloop.loop.base.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, UsageError
from cleanloop.loop.vcs.git import git_env

#: the example shop, shipped as package data (`cleanloop.scenarios`): works from a wheel too
SHOP_DIR = Path(str(resources.files("cleanloop").joinpath("scenarios", "shop"))).resolve()
FIXES_DIR = SHOP_DIR / "fixes"
DEMO_SCENARIOS = ("checkout-perf.yaml", "startup.yaml", "error-log.yaml", "ui-add-to-cart.yaml")
DEMO_FIXES = ("checkout-n-plus-one.patch", "startup.patch", "error-log.patch",
              "add-to-cart.patch")
#: committed before the loop, which then fixes the UI bug and the N+1 query
HAND_FIXES = ("startup.patch", "error-log.patch")
_GIT_ENV = {"GIT_AUTHOR_NAME": "cleanloop demo", "GIT_AUTHOR_EMAIL": "demo@cleanloop.invalid",
            "GIT_COMMITTER_NAME": "cleanloop demo",
            "GIT_COMMITTER_EMAIL": "demo@cleanloop.invalid"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env=git_env(_GIT_ENV))


def seed_repository(target: Path) -> Path:
    target = target.resolve()
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} is not empty; give a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SHOP_DIR / "app", target / "app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.db"))
    for yaml_file in sorted(SHOP_DIR.glob("*.yaml")):
        shutil.copy2(yaml_file, target / yaml_file.name)
    (target / ".gitignore").write_text("__pycache__/\n*.pyc\n", encoding="utf-8")
    _git(target, "init", "-q", "-b", "main")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "shop: initial import")
    return target


#: the command line's entry point, `main(argv) -> exit code`, handed in by the CLI
Command = Callable[[list[str]], int]


def _cleanloop(main: Command, repo: Path, *args: str) -> int:
    """`cleanloop ARGS` in `repo`, in this process (what a shell would run, without paying
    for a fresh interpreter and its imports on every command)."""
    print(f"\n$ cleanloop {' '.join(args)}", flush=True)
    here = Path.cwd()
    os.chdir(repo)
    try:
        code = main(list(args))
        if code == EXIT_INTERRUPTED:  # Ctrl-C ends the demo, not just this command
            raise KeyboardInterrupt
        return code
    finally:
        sys.stdout.flush()
        os.chdir(here)


def _fix(main: Command, repo: Path, scenario: str, wrong: str, right: str) -> int:
    return _cleanloop(main, repo, "fix", scenario, "--agent", "scripted", "--max-iterations", "2",
                      "--script-patch", str(FIXES_DIR / wrong),
                      "--script-patch", str(FIXES_DIR / right))


def run_demo(main: Command) -> int:
    """Seeded bugs fail; fixed they pass; then the agent loop fixes a UI and a perf bug.
    `main` runs one cleanloop command (the CLI passes its own entry point)."""
    repo = seed_repository(Path(tempfile.mkdtemp(prefix="cleanloop-demo-")) / "shop")
    print(f"Seeded a shop repository with four bugs at {repo}")
    ok = True
    print("\n== 1. The seeded bugs: every scenario FAILS, with its evidence ==")
    for name in DEMO_SCENARIOS:
        ok &= _cleanloop(main, repo, "run", name) == EXIT_FAIL
    print("\n== 2. With the fixes from scenarios/shop/fixes/ applied, every scenario PASSES ==")
    for patch in DEMO_FIXES:
        _git(repo, "apply", str(FIXES_DIR / patch))
        print(f"  git apply {patch}")
    for name in DEMO_SCENARIOS:
        ok &= _cleanloop(main, repo, "run", name) == EXIT_OK
    _git(repo, "checkout", "--", ".")
    print("\n== 3. The loop: a (scripted) agent patches a worktree until the gate accepts ==")
    for patch in HAND_FIXES:
        _git(repo, "apply", str(FIXES_DIR / patch))
    _git(repo, "commit", "-q", "-am", "fix the slow start-up and the spurious error log")
    print(f"   The start-up and error-log fixes are committed by hand ({', '.join(HAND_FIXES)});")
    print("   the agent takes the UI bug and the N+1 query. Its first attempt is a wrong fix")
    print("   and is rejected; the second is accepted.")
    ok &= _fix(main, repo, "ui-add-to-cart.yaml", "add-to-cart-wrong.patch",
               "add-to-cart.patch") == EXIT_OK
    ok &= _fix(main, repo, "checkout-perf.yaml", "checkout-wrong.patch",
               "checkout-n-plus-one.patch") == EXIT_OK
    print("\n== Result ==")
    branches = subprocess.run(["git", "branch", "--list", "cleanloop/*"], cwd=repo,
                              capture_output=True, text=True, check=False).stdout.split()
    print("  branches: " + ", ".join(b for b in branches if b != "*"))
    for report in sorted((repo / ".cleanloop" / "fixes").glob("*/report.md")):
        print(f"  report: {report}")
    print(f"  runs:    {repo / '.cleanloop' / 'runs'}")
    print("\nDemo " + ("finished as expected." if ok else "did NOT behave as expected."))
    return EXIT_OK if ok else EXIT_FAIL
