"""find_browser: precedence, PATH lookup, and the install advice when nothing is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleanloop.loop.base.envvars import CLEANLOOP_CHROMIUM
from cleanloop.loop.base.errors import ProbeError
from cleanloop.loop.model.scenario import BrowserOptions
from cleanloop.probes.browser import BrowserSession
from cleanloop.probes.browser_discovery import (
    find_browser,
    playwright_managed_browser,
)


def fake_exe(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No PATH hits and an empty Playwright cache."""
    (tmp_path / "empty-bin").mkdir(exist_ok=True)
    return {"PATH": str(tmp_path / "empty-bin"),
            "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-cache"), **extra}


def test_env_wins_over_configured_and_fixed_paths(tmp_path: Path) -> None:
    env_exe, configured = fake_exe(tmp_path / "env/chrome"), fake_exe(tmp_path / "cfg/chrome")
    fixed = fake_exe(tmp_path / "fixed/chromium")
    env = isolated_env(tmp_path, **{CLEANLOOP_CHROMIUM: env_exe})
    assert find_browser(configured, env, fixed_paths=[fixed]) == env_exe
    assert find_browser(configured, isolated_env(tmp_path), fixed_paths=[fixed]) == configured
    assert find_browser(None, isolated_env(tmp_path), fixed_paths=[fixed]) == fixed


def test_a_named_browser_that_is_missing_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    fixed = fake_exe(tmp_path / "fixed/chromium")
    env = isolated_env(tmp_path, **{CLEANLOOP_CHROMIUM: str(tmp_path / "nope")})
    with pytest.raises(ProbeError) as info:
        find_browser(None, env, fixed_paths=[fixed])
    assert f"{CLEANLOOP_CHROMIUM}={tmp_path / 'nope'} is not an executable file" in str(info.value)
    assert "apt-get install chromium" in str(info.value)
    with pytest.raises(ProbeError, match="browser.executable="):
        find_browser(str(tmp_path / "nope"), isolated_env(tmp_path), fixed_paths=[fixed])


def test_path_names_are_looked_up_on_the_injected_path(tmp_path: Path) -> None:
    exe = fake_exe(tmp_path / "bin/chromium-browser")
    env = {"PATH": str(tmp_path / "bin"), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "x")}
    assert find_browser(None, env, fixed_paths=()) == exe
    # a configured bare name resolves on PATH too
    assert find_browser("chromium-browser", env, fixed_paths=()) == exe


def test_playwright_managed_browser_is_the_last_resort(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    exe = fake_exe(cache / "chromium-1200" / "chrome-linux64" / "chrome")
    env = {"PATH": str(tmp_path), "PLAYWRIGHT_BROWSERS_PATH": str(cache)}
    assert playwright_managed_browser(env) == exe
    assert find_browser(None, env, fixed_paths=()) == exe
    with pytest.raises(ProbeError):
        find_browser(None, env, fixed_paths=(), managed=lambda: None)


def test_nothing_found_gives_install_advice(tmp_path: Path) -> None:
    missing = str(tmp_path / "does-not-exist" / "chrome")
    with pytest.raises(ProbeError) as info:
        find_browser(None, isolated_env(tmp_path), fixed_paths=(missing,))
    message = str(info.value)
    assert "apt-get install chromium" in message
    assert f"{CLEANLOOP_CHROMIUM}=/path/to/chrome" in message
    assert missing in message  # says what it tried
    assert info.value.exit_code == 3


def test_a_non_executable_file_is_not_a_browser(tmp_path: Path) -> None:
    plain = tmp_path / "chrome"
    plain.write_text("", encoding="utf-8")
    with pytest.raises(ProbeError):
        find_browser(str(plain), isolated_env(tmp_path), fixed_paths=())


def test_session_start_without_a_browser_raises_before_launching(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, **{CLEANLOOP_CHROMIUM: str(tmp_path / "nope")})
    session = BrowserSession(BrowserOptions(), env, fixed_paths=())
    with pytest.raises(ProbeError, match="apt-get install chromium"):
        session.start()
    session.close()
    assert session.pid is None
