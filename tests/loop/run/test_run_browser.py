"""`cleanloop run` with browser steps: missing browser, step timeout, crash, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cleanloop.loop.cli.main import main
from tests.apps.page_server import PAGE_SERVER
from tests.processes import chromium_pids, processes_mentioning

pytestmark = pytest.mark.browser



def scenario(tmp_path: Path, steps: str) -> Path:
    (tmp_path / "pages.py").write_text(PAGE_SERVER)
    path = tmp_path / "ui.yaml"
    path.write_text('name: ui\napp:\n  command: "{python} pages.py {port}"\n'
                    "  ready: {http: /}\n  timeout: 10s\nsteps:\n" + steps)
    return path


def test_missing_browser_exits_3_with_install_advice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLEANLOOP_CHROMIUM", str(tmp_path / "no-such-chrome"))
    path = scenario(tmp_path, "  - browser: {goto: /}\n")
    assert main(["run", str(path)]) == 3
    err = capsys.readouterr().err
    assert "no-such-chrome is not an executable file" in err
    assert "apt-get install chromium" in err
    assert processes_mentioning(str(tmp_path)) == []


def test_step_timeout_is_a_failed_step_with_index_and_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, "  - browser: {goto: /}\n"
                              "  - browser: {click: '#missing-button', timeout: 1s}\n")
    assert main(["run", str(path), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    [failed] = [c for c in verdict["checks"] if not c["ok"]]
    assert failed["check"] == "step #1 (browser:click)"
    assert "timed out after 1" in failed["note"] and f"{path.name}:8" in failed["note"]
    assert "#missing-button" in failed["note"]
    assert Path(failed["evidence"]["screenshot"]).is_file()


def _start(tmp_path: Path, path: Path) -> subprocess.Popen[str]:
    # its own process group, like a command in a terminal: Ctrl-C reaches the whole group
    return subprocess.Popen([sys.executable, "-m", "cleanloop", "-v", "run", str(path)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_line(proc: subprocess.Popen[str], marker: str) -> list[str]:
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            return seen
    pytest.fail("marker never appeared:\n" + "".join(seen[-20:]))


WAITING_STEPS = ("  - browser: {goto: /}\n"
                 "  - browser: {wait_for: {selector: '#never'}, timeout: 60s}\n")
#: logged (-v) as the waiting step starts: what follows happens inside that browser step
WAITING_STEP = "step #1 (wait_for) at "


def test_browser_crash_mid_scenario_is_an_infrastructure_error(tmp_path: Path) -> None:
    before = chromium_pids()
    proc = _start(tmp_path, scenario(tmp_path, WAITING_STEPS))
    try:
        _wait_for_line(proc, WAITING_STEP)
        # the browser dies while the scenario waits on it
        ours = chromium_pids() - before
        assert ours, "no browser process found"
        for pid in ours:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3, err
    assert "browser" in err.lower()
    assert processes_mentioning(str(tmp_path)) == []
    assert chromium_pids() - before == set()


def test_ctrl_c_during_a_browser_step_stops_everything(tmp_path: Path) -> None:
    before = chromium_pids()
    proc = _start(tmp_path, scenario(tmp_path, WAITING_STEPS))
    try:
        _wait_for_line(proc, WAITING_STEP)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert processes_mentioning(str(tmp_path)) == []
    assert chromium_pids() - before == set()
