"""The seeded shop repository, the way `cleanloop demo --init` lays it out, with a dirty tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cleanloop.loop.cli.demo import FIXES_DIR, seed_repository


def seeded_shop(root: Path, *, dirty: bool = True) -> Path:
    """A shop repo on a branch `work` with uncommitted user changes (when dirty)."""
    repo = seed_repository(root)
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "checkout", "-q", "-b", "work"], check=True)
    if dirty:
        # the user's uncommitted work: a staged edit, an unstaged edit of a scenario, a new file
        (repo / "notes.md").write_text("my notes, not committed\n")
        readme = repo / "app" / "README.md"
        readme.write_text("work in progress\n")
        subprocess.run([*git, "add", "app/README.md"], check=True)
        scenario = repo / "checkout-perf.yaml"
        scenario.write_text(scenario.read_text().replace("< 60ms", "< 1ms"))
    return repo


def fix(name: str) -> Path:
    return FIXES_DIR / name


def make_patch(tmp: Path, edit: dict[str, tuple[str, str]], base_fix: str | None = None) -> Path:
    """A patch against the seeded shop: optional fix applied, then text replacements."""
    repo = seed_repository(tmp / "patch-src")
    if base_fix:
        subprocess.run(["git", "-C", str(repo), "apply", str(fix(base_fix))], check=True)
    for rel, (old, new) in edit.items():
        path = repo / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new))
    diff = subprocess.run(["git", "-C", str(repo), "diff"], check=True, capture_output=True,
                          text=True).stdout
    out = tmp / "candidate.patch"
    out.write_text(diff)
    return out
