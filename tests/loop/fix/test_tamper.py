"""Protected-path globs: gitignore-like rules, one test per rule."""

from __future__ import annotations

import pytest

from cleanloop.loop.fix.tamper import matches, protected_violations
from cleanloop.loop.model.scenario import DEFAULT_PROTECTED


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    # no slash: the name at any depth
    ("*.yaml", "a.yaml", True),
    ("*.yaml", "conf/deep/b.yaml", True),
    ("*.yaml", "a.yaml.bak", False),
    ("*.yaml", "src/app.py", False),
    ("tests", "tests/test_x.py", True),
    ("tests", "pkg/tests/test_y.py", True),
    ("tests", "contests/x.py", False),
    # a slash in the middle or at the start anchors at the root
    ("scenarios/*.yaml", "scenarios/a.yaml", True),
    ("scenarios/*.yaml", "x/scenarios/a.yaml", False),
    ("scenarios/*.yaml", "scenarios/sub/a.yaml", False),
    ("/setup.py", "setup.py", True),
    ("/setup.py", "pkg/setup.py", False),
    # ** segments
    ("tests/**", "tests/a.py", True),
    ("tests/**", "tests/unit/deep/a.py", True),
    ("tests/**", "src/tests/a.py", False),
    ("**/conf.py", "conf.py", True),
    ("**/conf.py", "a/b/conf.py", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/x/y/c", False),
    ("a/**/b", "a/b/inside.txt", True),
    ("**", "anything/at/all", True),
    # a matched directory protects its contents; a trailing slash means directories only
    ("scenarios", "scenarios/shop/checkout.yaml", True),
    ("build/", "build/out.js", True),
    ("build/", "pkg/build/out.js", True),
    ("build/", "build", False),
    # * and ? never cross a slash; classes
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/sub/a.py", False),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file10.txt", False),
    ("[abc].txt", "b.txt", True),
    ("[!abc].txt", "b.txt", False),
    ("[!abc].txt", "d.txt", True),
    (r"\*.txt", "*.txt", True),
    (r"\*.txt", "a.txt", False),
    # case-sensitive; leading ./ ignored on both sides
    ("*.YAML", "a.yaml", False),
    ("./docs/**", "./docs/index.md", True),
])
def test_pattern_rules(pattern: str, path: str, expected: bool) -> None:
    assert matches(path, [pattern]) is expected


def test_comments_blanks_and_negation_protect_nothing() -> None:
    for pattern in ("", "   ", "# tests/**", "!src/app.py"):
        assert not matches("src/app.py", [pattern])
    assert not matches("tests/x.py", ["# tests/**"])


def test_cleanloop_state_and_git_are_always_protected() -> None:
    changed = [".cleanloop/runs/x/verdict.json", ".git/config", "src/app.py",
               ".gitignore", "docs/.git-notes"]
    assert protected_violations(changed, []) == [".cleanloop/runs/x/verdict.json", ".git/config"]


def test_violations_are_sorted_and_unique() -> None:
    changed = ["tests/test_b.py", "src/app.py", "scenarios/checkout.yaml", "tests/test_b.py",
               "pkg/settings.yml"]
    assert protected_violations(changed, DEFAULT_PROTECTED) == [
        "pkg/settings.yml", "scenarios/checkout.yaml", "tests/test_b.py"]


def test_a_clean_patch_has_no_violations() -> None:
    assert protected_violations(["src/app.py", "src/static/app.js"], DEFAULT_PROTECTED) == []
