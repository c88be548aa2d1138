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
from pathlib import Path

from loop.errors import EXIT_FAIL, EXIT_OK, UsageError

SHOP_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "shop"
FIXES_DIR = SHOP_DIR / "fixes"
DEMO_SCENARIOS = ("checkout-perf.yaml", "startup.yaml", "error-log.yaml", "ui-add-to-cart.yaml")
DEMO_FIXES = ("checkout-n-plus-one.patch", "startup.patch", "error-log.patch",
              "add-to-cart.patch")
_GIT_ENV = {"GIT_AUTHOR_NAME": "cleanloop demo", "GIT_AUTHOR_EMAIL": "demo@cleanloop.invalid",
            "GIT_COMMITTER_NAME": "cleanloop demo",
            "GIT_COMMITTER_EMAIL": "demo@cleanloop.invalid"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, **_GIT_ENV})


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


def _cleanloop(repo: Path, *args: str) -> int:
    print(f"\n$ cleanloop {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "loop.cli", *args], cwd=repo,
                          check=False).returncode


def run_demo(keep: bool = False) -> int:
    """Seeded bugs fail their checks; with the fix patches applied, they pass."""
    tmp = Path(tempfile.mkdtemp(prefix="cleanloop-demo-"))
    repo = seed_repository(tmp / "shop")
    print(f"Seeded a shop repository with four bugs at {repo}")
    ok = True
    try:
        print("\n== 1. The seeded bugs: every scenario should FAIL ==")
        for name in DEMO_SCENARIOS:
            ok &= _cleanloop(repo, "run", name) == EXIT_FAIL
        print("\n== 2. Applying the fixes from scenarios/shop/fixes/ ==")
        for patch in DEMO_FIXES:
            _git(repo, "apply", str(FIXES_DIR / patch))
            print(f"  git apply {patch}")
        print("\n== 3. The same scenarios with the fixes: every one should PASS ==")
        for name in DEMO_SCENARIOS:
            ok &= _cleanloop(repo, "run", name) == EXIT_OK
    finally:
        if keep:
            print(f"\nThe demo repository is kept at {repo}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nDemo " + ("finished as expected." if ok else "did NOT behave as expected."))
    return EXIT_OK if ok else EXIT_FAIL
