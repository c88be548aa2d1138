"""Finding a Chromium executable to drive.

Order: `$CLEANLOOP_CHROMIUM`, the scenario's `browser: {executable: ...}`, the fixed
paths (/usr/bin/chromium), `google-chrome` / `chromium-browser` / `chromium` on PATH,
then a Playwright-managed browser. A candidate that is named but missing is logged and
skipped; when nothing is found the ProbeError says how to install one.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cleanloop.loop.base.envvars import CLEANLOOP_CHROMIUM
from cleanloop.loop.base.errors import ProbeError

logger = logging.getLogger(__name__)

#: environment variable naming the browser executable; it wins over everything else
#: where Playwright keeps the browsers it downloads (`playwright install chromium`)
ENV_PLAYWRIGHT_BROWSERS = "PLAYWRIGHT_BROWSERS_PATH"

FIXED_PATHS: tuple[str, ...] = ("/usr/bin/chromium",)
PATH_NAMES: tuple[str, ...] = ("google-chrome", "chromium-browser", "chromium")

INSTALL_ADVICE = (
    "install one with `apt-get install chromium` (Debian/Ubuntu), or "
    "`python -m playwright install chromium`, or set "
    f"{CLEANLOOP_CHROMIUM}=/path/to/chrome"
)


def is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def playwright_managed_browser(env: Mapping[str, str]) -> str | None:
    """A Chromium that `playwright install` downloaded, if any (newest first)."""
    root = env.get(ENV_PLAYWRIGHT_BROWSERS) or str(Path.home() / ".cache" / "ms-playwright")
    patterns = ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/*/headless_shell")
    for pattern in patterns:
        for hit in sorted(glob.glob(os.path.join(root, pattern)), reverse=True):
            if is_executable(hit):
                return hit
    return None


def find_browser(
    configured: str | None,
    env: Mapping[str, str],
    *,
    fixed_paths: Sequence[str] = FIXED_PATHS,
    path_names: Sequence[str] = PATH_NAMES,
    managed: Callable[[], str | None] | None = None,
) -> str:
    """The path of the browser to launch, or ProbeError with install advice.

    `managed` returns a Playwright-managed browser; by default Playwright's download
    cache ($PLAYWRIGHT_BROWSERS_PATH or ~/.cache/ms-playwright, where
    `playwright.chromium.executable_path` points) is searched without starting Playwright.
    """
    tried: list[str] = []
    named = [(env.get(CLEANLOOP_CHROMIUM), CLEANLOOP_CHROMIUM), (configured, "browser.executable")]
    for value, origin in named:
        if not value:
            continue
        resolved = value if os.sep in value else (shutil.which(value, path=_path(env)) or value)
        if is_executable(resolved):
            return resolved
        # the user named a browser: falling back to another one would hide their mistake
        raise ProbeError(f"{origin}={value} is not an executable file; " + INSTALL_ADVICE)
    for path in fixed_paths:
        if is_executable(path):
            return path
        tried.append(path)
    for name in path_names:
        hit = shutil.which(name, path=_path(env))
        if hit and is_executable(hit):
            return hit
        tried.append(f"{name} on PATH")
    managed_path = _managed(managed, env)
    if managed_path:
        return managed_path
    tried.append("a Playwright-managed browser")
    raise ProbeError(
        "no Chromium/Chrome browser found (tried " + ", ".join(tried) + "); " + INSTALL_ADVICE
    )


def _path(env: Mapping[str, str]) -> str:
    return env.get("PATH", os.defpath)


def _managed(managed: Callable[[], str | None] | None, env: Mapping[str, str]) -> str | None:
    try:
        path = managed() if managed is not None else playwright_managed_browser(env)
    except Exception as exc:  # a fallback probe must not fail the lookup
        logger.debug("no Playwright-managed browser: %s", exc)
        return None
    return path if path and is_executable(path) else None
