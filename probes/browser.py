"""The browser probe: one Chromium per `cleanloop run`, one context per repetition.

    with BrowserSession(settings, os.environ) as session:
        run = session.open(base_url="http://127.0.0.1:8000", artifacts_dir=run_dir, repeat=0)
        result = run.run_step(step)          # StepResult; ProbeError if the browser died
        tables = run.drain()                 # {"browser": columns}
        run.close()

Playwright's sync API is used, so every call must come from the thread that called
`start()`, and that thread must not be running an asyncio loop; only one session can
be started per thread at a time. The launched browser is found by a marker switch on
its command line, and `close()` reaps its whole process group (see browser_process).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from playwright.sync_api import Browser, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from cleanloop.loop.base.errors import ProbeError
from cleanloop.loop.model.scenario import BrowserOptions
from cleanloop.probes.browser_discovery import FIXED_PATHS, find_browser
from cleanloop.probes.browser_process import find_marked_process, is_alive, kill_group
from cleanloop.probes.browser_run import BrowserRun

logger = logging.getLogger(__name__)

LAUNCH_ARGS: tuple[str, ...] = (
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
)
LAUNCH_TIMEOUT_MS = 30_000.0

__all__ = ["BrowserRun", "BrowserSession", "find_browser"]


class BrowserSession:
    """Launches (or connects to) the browser once and opens a context per repetition."""

    def __init__(
        self, settings: BrowserOptions, env: Mapping[str, str], *,
        fixed_paths: Sequence[str] = FIXED_PATHS,
    ) -> None:
        self.settings = settings
        self._env = dict(env)
        self._fixed_paths = tuple(fixed_paths)
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._runs: list[BrowserRun] = []
        self._marker = f"--cleanloop-session={uuid.uuid4().hex}"
        self.executable: str | None = None
        self.pid: int | None = None
        self.pgid: int | None = None
        self._closed = False

    def start(self) -> None:
        if self._browser is not None:
            return
        if self._closed:
            raise ProbeError("this browser session is closed")
        if not self.settings.cdp_url:  # before Playwright starts: a missing browser costs nothing
            self.executable = find_browser(self.settings.executable, self._env,
                                           fixed_paths=self._fixed_paths)
        try:
            self._pw = sync_playwright().start()
        except PlaywrightError as exc:
            raise ProbeError(
                "cannot start Playwright (its sync API refuses to run inside an asyncio loop "
                f"or next to another session on the same thread): {exc}") from exc
        try:
            self._browser = self._connect() if self.settings.cdp_url else self._launch()
        except BaseException:
            self.close()
            raise

    def _launch(self) -> Browser:
        assert self._pw is not None
        assert self.executable is not None
        chromium = self._pw.chromium
        args = [*LAUNCH_ARGS, self._marker]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        logger.info("launching browser %s (headless=%s)", self.executable, self.settings.headless)
        try:
            browser = chromium.launch(executable_path=self.executable, args=args,
                                      headless=self.settings.headless, timeout=LAUNCH_TIMEOUT_MS)
        except PlaywrightError as exc:
            raise ProbeError(f"the browser {self.executable} did not start: "
                             f"{str(exc).splitlines()[0]}") from exc
        self.pid = find_marked_process(self._marker)
        if self.pid is not None:
            try:
                self.pgid = os.getpgid(self.pid)
            except ProcessLookupError:
                self.pgid = None
        if self.pgid is not None and self.pgid == os.getpgrp():
            self.pgid = None  # never reap our own group
        return browser

    def _connect(self) -> Browser:
        assert self._pw is not None and self.settings.cdp_url
        logger.info("connecting to the browser at %s", self.settings.cdp_url)
        try:
            return self._pw.chromium.connect_over_cdp(self.settings.cdp_url,
                                                      timeout=LAUNCH_TIMEOUT_MS)
        except PlaywrightError as exc:
            raise ProbeError(f"cannot connect to the browser at {self.settings.cdp_url}: "
                             f"{str(exc).splitlines()[0]}") from exc

    def is_alive(self) -> bool:
        """The browser is connected and (when we launched it) its process still runs."""
        browser = self._browser
        if browser is None or not browser.is_connected():
            return False
        return self.pid is None or is_alive(self.pid)

    def open(self, *, base_url: str, artifacts_dir: Path, repeat: int) -> BrowserRun:
        """A fresh browser context (cookies, storage, cache) for one repetition."""
        self.start()
        assert self._browser is not None
        if not self.is_alive():
            raise ProbeError("the browser is gone (crashed, killed or disconnected)")
        width, height = self.settings.viewport
        context = None
        try:
            context = self._browser.new_context(base_url=base_url,
                                                viewport={"width": width, "height": height})
            run = BrowserRun(self._browser, context, settings=self.settings, base_url=base_url,
                             artifacts_dir=Path(artifacts_dir), repeat=repeat,
                             browser_alive=self.is_alive)
        except PlaywrightError as exc:
            if context is not None:
                try:
                    context.close()
                except PlaywrightError:
                    pass
            raise ProbeError(f"cannot open a browser context: {exc}") from exc
        self._runs.append(run)
        return run

    def close(self) -> None:
        """Close open runs, the browser and Playwright; reap the browser's process group."""
        if self._closed:
            return
        self._closed = True
        for run in self._runs:
            try:
                run.close()
            except Exception as exc:  # one broken run must not keep the browser alive
                logger.warning("closing a browser run failed: %s", exc)
        self._runs.clear()
        if self._browser is not None:
            try:
                self._browser.close()
            except PlaywrightError as exc:
                logger.debug("browser.close(): %s", exc)
        if self._pw is not None:
            try:
                self._pw.stop()
            except Exception as exc:  # the driver may already be gone
                logger.debug("playwright.stop(): %s", exc)
        if self.pgid is not None:
            kill_group(self.pgid)

    def __enter__(self) -> BrowserSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
