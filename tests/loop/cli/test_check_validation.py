"""A check naming an unknown SLI, attribute or filter field is a scenario error at load:
exit 2 naming the file, the line and the check, before anything boots (it once booted the app,
ran every step and ended in a traceback with exit 1, which means "checks fail")."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleanloop.loop.cli.main import main
from tests.loop.cli.test_run_cli import scenario


@pytest.mark.parametrize(("check", "words"), [
    ("page.error == 0", "unknown '.error'"),
    ('console(nosuchfield == "x").count == 0', "cannot filter on 'nosuchfield'"),
    ("nosuchsli.count == 0", "unknown SLI 'nosuchsli'"),
])
def test_unknown_sli_in_a_check_exits_2_before_anything_boots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        check: str, words: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, checks=f"  - '{check}'\n")
    line = path.read_text().splitlines().index(f"  - '{check}'") + 1
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: field 'checks[0]'" in err, err
    assert words in err and check in err, err
    assert "Traceback" not in err
    # nothing booted: no run directory, so no app.log
    assert not list(tmp_path.rglob("app.log"))
