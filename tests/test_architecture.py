"""The layer rules hold, and they bite.

- `lint-imports` passes on the project with the contracts in pyproject.toml.
- Each contract fails on a copy of the package with a deliberate violation of it (a lazy import
  reaching up from the base, an import under TYPE_CHECKING from the gate into the fix loop, a
  cycle between two store modules), so a contract that silently checks nothing cannot pass.
- Every module of the installed `cleanloop` imports, and nothing imports the old top-level
  names `loop`, `probes` or `collectors`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

import cleanloop

CHECKOUT = Path(__file__).resolve().parents[1]
PYPROJECT = CHECKOUT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LINT_TIMEOUT_S = 120
TAIL_LINES = 60

#: a line importing one of the names the project used before `cleanloop` was its only one
OLD_IMPORT = re.compile(r"^\s*(from|import)\s+(loop|probes|collectors)\b", re.MULTILINE)
SCANNED = ("loop", "probes", "collectors", "tests", "bench")

#: per contract id: the modules added to a copy of the package to break it, and what the
#: report must then say (besides the contract's name)
REACHES_UP = {"loop/base/zz_reaches_up.py": (
    "def rules():\n"
    "    from cleanloop.loop.gate import rules  # lazy, still an import\n"
    "    return rules\n")}
TYPE_ONLY = {"loop/gate/zz_type_only.py": (
    "from typing import TYPE_CHECKING\n\n"
    "if TYPE_CHECKING:\n"
    "    from cleanloop.loop.fix import driver  # noqa: F401\n")}
CYCLE = {"loop/store/zz_cycle_a.py": "from cleanloop.loop.store import zz_cycle_b  # noqa: F401\n",
         "loop/store/zz_cycle_b.py": "from cleanloop.loop.store import zz_cycle_a  # noqa: F401\n"}
VIOLATIONS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "layers": ({**REACHES_UP, **TYPE_ONLY}, (
        "cleanloop.loop.base.zz_reaches_up -> cleanloop.loop.gate.rules",
        "cleanloop.loop.gate.zz_type_only -> cleanloop.loop.fix.driver")),
    "base-imports-nothing": (REACHES_UP, (
        "cleanloop.loop.base.zz_reaches_up -> cleanloop.loop.gate.rules",)),
    "gate-not-fix": (TYPE_ONLY, (
        "cleanloop.loop.gate.zz_type_only -> cleanloop.loop.fix.driver",)),
    "no-cycles": (CYCLE, (
        "No cycles are allowed in cleanloop.loop.store",
        "zz_cycle_")),
}


def _contracts() -> dict[str, str]:
    """id -> name of every import-linter contract in pyproject.toml."""
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c["name"] for c in config["contracts"]}


def _flat(text: str) -> str:
    """Whitespace collapsed: lint-imports wraps long lines at the terminal width."""
    return " ".join(text.split())


def _lint(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args]
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=LINT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"lint-imports timed out after {LINT_TIMEOUT_S} s: {cmd}\n"
                    f"{_tail(str(exc.stdout))}\n{_tail(str(exc.stderr))}")


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def _describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n--- stdout (tail)\n"
            f"{_tail(proc.stdout)}\n--- stderr (tail)\n{_tail(proc.stderr)}")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def test_the_import_contracts_hold() -> None:
    assert LINT_IMPORTS.is_file(), f"{LINT_IMPORTS} missing: pip install import-linter"
    proc = _lint(str(PYPROJECT), cwd=CHECKOUT, env=_env())
    assert proc.returncode == 0, _describe(proc)
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in _flat(proc.stdout), \
        _describe(proc)


def test_every_contract_has_a_deliberate_violation_below() -> None:
    assert set(_contracts()) == set(VIOLATIONS), (
        "each import-linter contract in pyproject.toml needs a deliberate violation in "
        "VIOLATIONS that proves it fails")


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the installed `cleanloop` package (real files where the checkout has symbolic
    links) with every deliberate violation added, and the project's pyproject.toml beside it."""
    root = tmp_path_factory.mktemp("import-contracts")
    package = root / "src" / "cleanloop"
    shutil.copytree(Path(cleanloop.__file__).parent, package, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "scenarios"))
    assert not any(p.is_symlink() for p in package.iterdir())
    for files, _ in VIOLATIONS.values():
        for relative, source in files.items():
            assert (package / relative).parent.joinpath("__init__.py").is_file(), relative
            (package / relative).write_text(source, encoding="utf-8")
    shutil.copy2(PYPROJECT, root / "pyproject.toml")
    return root


def test_a_violation_of_any_contract_fails_the_whole_check(broken_copy: Path) -> None:
    proc = _lint("pyproject.toml", cwd=broken_copy,
                 env=_env(PYTHONPATH=str(broken_copy / "src")))
    out = _flat(proc.stdout)
    assert proc.returncode != 0, _describe(proc)
    for contract_id, name in _contracts().items():
        assert f"{_flat(name)} BROKEN" in out, f"{contract_id} not reported broken\n" \
            + _describe(proc)
    # the graph is the copy's, not the checkout's
    assert "zz_reaches_up" in out and "zz_cycle_" in out, _describe(proc)


@pytest.mark.parametrize("contract_id", sorted(VIOLATIONS))
def test_each_contract_catches_its_violation(broken_copy: Path, contract_id: str) -> None:
    name = _contracts()[contract_id]
    proc = _lint("pyproject.toml", "--contract", contract_id, cwd=broken_copy,
                 env=_env(PYTHONPATH=str(broken_copy / "src")))
    out = _flat(proc.stdout)
    assert proc.returncode != 0, _describe(proc)
    assert f"{_flat(name)} BROKEN" in out, _describe(proc)
    for expected in VIOLATIONS[contract_id][1]:
        assert expected in out, f"{expected!r} missing\n" + _describe(proc)


def _expected_modules(package_dir: Path) -> set[str]:
    """The module names of every .py file under the package's code folders, following the
    symbolic links of the checkout's cleanloop/."""
    names = {"cleanloop"}
    for directory, dirs, files in os.walk(package_dir, followlinks=True):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "scenarios")]
        parts = Path(directory).relative_to(package_dir).parts
        for file in files:
            if file.endswith(".py") and file != "__main__.py":
                stem = file[:-3]
                names.add(".".join(("cleanloop", *parts, *(() if stem == "__init__" else
                                                              (stem,)))))
    return names


def test_every_module_of_the_installed_package_imports() -> None:
    errors: list[str] = []
    walked = {"cleanloop"}
    for info in pkgutil.walk_packages(cleanloop.__path__, prefix="cleanloop.",
                                      onerror=lambda name: errors.append(f"{name}: walk error")):
        if info.name.startswith("cleanloop.scenarios") or info.name.endswith(".__main__"):
            continue
        walked.add(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # every module that fails, not only the first
            errors.append(f"{info.name}: {type(exc).__name__}: {exc}")
    assert not errors, "\n".join(errors)
    expected = _expected_modules(Path(cleanloop.__file__).parent)
    assert walked == expected, (f"not importable as a package module: {sorted(expected - walked)}"
                                f"; unexpected: {sorted(walked - expected)}")
    assert {"cleanloop.loop.cli.main", "cleanloop.loop.gate.rules", "cleanloop.probes.http",
            "cleanloop.collectors.otlp_receiver"} <= walked


def test_the_old_import_pattern_matches_what_it_should() -> None:
    for line in ("from loop.gate import rules", "import probes.http", "  import collectors",
                 "    from collectors.base import Columns"):
        assert OLD_IMPORT.search(line), line
    for line in ("from cleanloop.loop.gate import rules", "import loopy", "from . import loop",
                 "# the loop imports probes", 'x = "import loop"'):
        assert not OLD_IMPORT.search(line), line


def _sources() -> Sequence[Path]:
    files = [p for folder in SCANNED for p in sorted((CHECKOUT / folder).rglob("*.py"))
             if "__pycache__" not in p.parts]
    return files + sorted(p for p in (CHECKOUT / "cleanloop").glob("*.py") if not p.is_symlink())


def test_nothing_imports_the_old_top_level_names() -> None:
    files = _sources()
    assert Path(__file__).resolve() in files and len(files) > 50, len(files)
    offenders = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in OLD_IMPORT.finditer(text):
            line = text.count("\n", 0, match.start(1)) + 1
            offenders.append(f"{path.relative_to(CHECKOUT)}:{line}: {match.group(0).strip()}")
    assert not offenders, "imports of the old top-level names:\n" + "\n".join(offenders)
