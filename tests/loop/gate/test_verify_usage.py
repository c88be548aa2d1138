"""Usage errors and notes of `verify` and `fix` about the base revision, before anything runs.

An unknown `--base` and a scenario not committed at the base are the user's input, not the
world: exit 2, naming the revision and the path, and no worktree, run or app is started.
A working-tree scenario that differs from its committed form is used in its committed form
and that is said on stderr, naming the differing checks (else lines).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cleanloop.loop.cli.main import main
from tests.repo_state import assert_no_worktrees, sh, snapshot
from tests.shop_repo import fix, seeded_shop

N_PLUS_ONE = str(fix("checkout-n-plus-one.patch"))
CHECKOUT_NOTE = (
    "cleanloop: note: checkout-perf.yaml differs from its committed form at HEAD; {command} "
    'uses the committed one. Differing checks: `span("POST /api/checkout").p95 < 1ms` '
    '(working tree) vs `span("POST /api/checkout").p95 < 60ms` (HEAD)')


@pytest.fixture
def shop(tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The seeded shop with the user's uncommitted edits (checkout-perf.yaml: `< 1ms` in the
    working tree, `< 60ms` committed). Nothing may have run: no run directory, no worktree."""
    repo = seeded_shop(tmp_path / "shop")
    monkeypatch.chdir(repo)
    yield repo
    runs = repo / ".cleanloop" / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    assert not (repo / ".cleanloop" / "fixes").exists()
    assert_no_worktrees(repo)


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


COMMANDS = {
    "verify": ["verify", "--patch", N_PLUS_ONE],
    "calibrate": ["verify", "--calibrate"],
    "fix": ["fix", "--agent", "scripted", "--script-patch", N_PLUS_ONE],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_base_revision_exits_2_naming_it(
        shop: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    before = snapshot(shop)
    args = COMMANDS[command]
    assert main([args[0], "checkout-perf.yaml", *args[1:], "--base", "nosuchref"]) == 2
    [line] = stderr_lines(capsys)
    assert line.startswith("cleanloop: error: unknown revision 'nosuchref' in ")
    assert snapshot(shop) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_scenario_missing_at_the_base_exits_2_naming_path_and_revision(
        shop: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    (shop / "new-check.yaml").write_text((shop / "checkout-perf.yaml").read_text())
    args = COMMANDS[command]
    assert main([args[0], "new-check.yaml", *args[1:]]) == 2
    [line] = stderr_lines(capsys)
    head = sh(shop, "rev-parse", "HEAD")[:12]
    assert line.startswith(f"cleanloop: error: the scenario new-check.yaml does not exist at "
                           f"the base revision 'HEAD' ({head}): ")
    assert "commit it there first" in line


def test_scenario_committed_after_the_base_is_missing_at_the_base(
        shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (shop / "new-check.yaml").write_text((shop / "checkout-perf.yaml").read_text())
    sh(shop, "add", "new-check.yaml")
    sh(shop, "commit", "-q", "-m", "a new scenario", "--", "new-check.yaml")
    assert main(["verify", "new-check.yaml", "--base", "HEAD~1", "--patch", N_PLUS_ONE]) == 2
    [line] = stderr_lines(capsys)
    assert "the scenario new-check.yaml does not exist at the base revision 'HEAD~1' (" in line


def test_scenario_outside_the_repository_exits_2(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((shop / "checkout-perf.yaml").read_text())
    assert main(["verify", str(outside), "--patch", N_PLUS_ONE]) == 2
    [line] = stderr_lines(capsys)
    assert f"{outside} is outside the git repository" in line


@pytest.mark.parametrize("command", ["verify", "fix"])
def test_a_modified_working_tree_scenario_is_noted_before_anything_runs(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    """The note comes first; the command then stops at once on a missing patch file."""
    missing = str(tmp_path / "missing.patch")
    if command == "verify":
        assert main(["verify", "checkout-perf.yaml", "--json", "--patch", missing]) == 2
    else:
        assert main(["fix", "checkout-perf.yaml", "--json", "--agent", "scripted",
                     "--script-patch", missing]) == 3   # the agent cannot run: AgentError
    note, error = stderr_lines(capsys)
    assert note == CHECKOUT_NOTE.format(command=command)
    assert error.startswith("cleanloop: error: ") and "missing.patch" in error


def test_a_difference_outside_the_checks_names_the_lines(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shop / "error-log.yaml"
    lines = scenario.read_text().splitlines(keepends=True)
    assert lines[1].startswith("description:")
    lines[1] = 'description: "edited in the working tree"\n'
    lines.insert(5, "# a comment\n")
    scenario.write_text("".join(lines))
    assert main(["verify", "error-log.yaml", "--patch", str(tmp_path / "missing.patch")]) == 2
    note, _ = stderr_lines(capsys)
    assert note == ("cleanloop: note: error-log.yaml differs from its committed form at HEAD; "
                    "verify uses the committed one. Differing lines: 2, 6 (working tree) vs 2 "
                    "(HEAD)")


def test_a_working_tree_copy_that_does_not_load_names_the_lines(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shop / "error-log.yaml"
    scenario.write_text(scenario.read_text() + "checks: [oops\n")
    assert main(["verify", "error-log.yaml", "--patch", str(tmp_path / "missing.patch")]) == 2
    note, _ = stderr_lines(capsys)
    assert note.endswith("uses the committed one. Differing lines: "
                         f"{len(scenario.read_text().splitlines())} (working tree) vs none "
                         "(HEAD)")


def test_an_unmodified_scenario_gets_no_note(
        shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "error-log.yaml", "--patch", str(tmp_path / "missing.patch")]) == 2
    [line] = stderr_lines(capsys)
    assert line.startswith("cleanloop: error: no such patch file")
