"""BrowserSession lifecycle with a real Chromium: crash handling, reaping, recordings.

Each test launches its own browser (a killed browser cannot be shared), so this module
must not overlap with another module's session: Playwright's sync API allows one
started instance per thread.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cleanloop.loop.base.errors import ProbeError
from cleanloop.loop.model.scenario import BrowserOptions
from cleanloop.loop.model.steps import Step
from cleanloop.probes.browser import BrowserSession
from cleanloop.probes.browser_discovery import find_browser
from cleanloop.probes.browser_screencast import assemble_gif
from tests.probes.pages.server import PageServer
from tests.waiting import wait_until

pytestmark = pytest.mark.browser


def bstep(index: int, params: dict[str, object]) -> Step:
    return Step(kind="browser", index=index, line=index + 1, name=f"s{index}", params=params,
                source="scenario.yaml")


def live_in_group(pgid: int) -> list[str]:
    """Our own /proc scan: non-zombie processes whose process group is `pgid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(stat[:60])
    return found


def wait_until_gone(pid: int, timeout: float = 10.0) -> None:
    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                state = fh.read().rpartition(")")[2].split()[0]
        except OSError:
            return True
        return state in ("Z", "X")

    assert wait_until(gone, timeout), f"pid {pid} still alive"


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


def test_killed_browser_raises_probe_error_and_close_reaps_the_group(
    pages: PageServer, tmp_path: Path,
) -> None:
    session = BrowserSession(BrowserOptions(timeout_s=5.0), os.environ)
    try:
        session.start()
        assert session.pid is not None and session.pgid == session.pid
        run = session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=0)
        assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
        assert live_in_group(session.pgid)
        os.kill(session.pid, signal.SIGKILL)
        wait_until_gone(session.pid)
        with pytest.raises(ProbeError, match="browser is gone"):
            run.run_step(bstep(1, {"click": "#add"}))
        run.close()  # must not hang or raise on a dead browser
        with pytest.raises(ProbeError):
            session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=1)
    finally:
        session.close()
    pgid = session.pgid
    assert pgid is not None
    assert wait_until(lambda: not live_in_group(pgid), 10.0), live_in_group(pgid)


def test_normal_close_leaves_no_browser_processes(pages: PageServer, tmp_path: Path) -> None:
    with BrowserSession(BrowserOptions(), os.environ) as session:
        run = session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=0)
        assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
        pgid = session.pgid
        assert pgid is not None and live_in_group(pgid)
    assert live_in_group(pgid) == []
    session.close()  # idempotent


def test_screencast_and_performance_trace_are_written(pages: PageServer, tmp_path: Path) -> None:
    settings = BrowserOptions(screencast=True, performance_trace=True)
    with BrowserSession(settings, os.environ) as session:
        run = session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=2)
        assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
        for index in range(1, 4):
            assert run.run_step(bstep(index, {"click": "#add"})).ok
        run.close()
    trace = tmp_path / "traces" / "r2-trace.json"
    assert trace.stat().st_size > 1000 and b"traceEvents" in trace.read_bytes()[:2000]
    videos = [p for p in tmp_path.iterdir() if p.name.startswith("screencast-r2.")]
    # `make test` installs ffmpeg; without it Pillow (a dependency) makes a GIF
    expected = ".mp4" if shutil.which("ffmpeg") else ".gif"
    assert [v.suffix for v in videos] == [expected]
    assert not (tmp_path / "screencast-r2-frames").exists()
    if expected == ".mp4":
        probe = subprocess.run(["ffmpeg", "-v", "error", "-i", str(videos[0]), "-f", "null", "-"],
                               capture_output=True, text=True, check=False, timeout=60)
        assert probe.returncode == 0, probe.stderr


def test_screencast_frames_become_an_animated_gif_without_ffmpeg(tmp_path: Path) -> None:
    from PIL import Image

    frames = []
    for i, colour in enumerate(("red", "green", "blue")):
        path = tmp_path / f"frame-{i}.png"
        Image.new("RGB", (64, 48), colour).save(path)
        frames.append((path, 10.0 + 0.25 * i))
    out = assemble_gif(frames, tmp_path / "screencast-r0")
    assert out == tmp_path / "screencast-r0.gif"
    with Image.open(out) as gif:
        assert getattr(gif, "n_frames", 1) == 3 and gif.size == (64, 48)
        assert gif.info["duration"] == 250


def test_connect_over_cdp_to_a_running_browser(pages: PageServer, tmp_path: Path) -> None:
    browser = subprocess.Popen(
        [find_browser(None, os.environ), "--headless=new", "--remote-debugging-port=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--no-first-run",
         *(["--no-sandbox"] if os.geteuid() == 0 else []), "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert browser.stderr is not None
        endpoint = ""
        for line in browser.stderr:
            if line.startswith("DevTools listening on "):
                endpoint = line.split(" on ", 1)[1].strip()
                break
        assert endpoint.startswith("ws://127.0.0.1:")
        with BrowserSession(BrowserOptions(cdp_url=endpoint), os.environ) as session:
            assert session.pid is None
            run = session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=0)
            assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
            run.close()
        assert browser.poll() is None  # connecting never closes someone else's browser
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(timeout=10)
        if browser.stderr is not None:
            browser.stderr.close()
