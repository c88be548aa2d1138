"""Live apps for MCP clients: boot a scenario's app, keep it and a browser page until stopped.

    start  -> the app under test as `cleanloop run` boots it (cleanloop.loop.run.app:
              collectors, the scenario's launcher, readiness, scraper) with a Chromium page
              (the scenario's browser options) opened at /
    screenshot / snapshot  -> the page (navigating first when a path is given)
    stop   -> close the page -> wait for the app's last telemetry -> close the browser
              -> stop the app -> flush the collectors -> spans/logs/metrics/browser.parquet
              in the session directory

Playwright's sync API is bound to the thread that started it and refuses a thread that
runs an asyncio loop, so each live app owns one worker thread and every call on it runs
there. Session files live in `.cleanloop/sessions/<id>/`, apart from the runs, so "last"
keeps naming the last finished run; a stopped session's directory can still be queried.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from cleanloop.loop.base.errors import ProbeError, UsageError
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.run.app import AppUnderTest
from cleanloop.loop.run.progress import QuietProgress
from cleanloop.loop.store.run_store import RunStore, ensure_state_dir
from cleanloop.probes.browser import BrowserSession
from cleanloop.probes.browser_artifacts import artifact_path, save_dom, save_screenshot

logger = logging.getLogger(__name__)

T = TypeVar("T")
SESSIONS_DIR = Path(".cleanloop") / "sessions"
DOM_LIMIT = 20_000          # characters of HTML returned inline (the file has all of it)


class LiveApp:
    """One booted app with its collectors and one browser page, driven from its own thread."""

    def __init__(self, session_id: str, scenario: Scenario, project_dir: Path, store: RunStore,
                 env: Mapping[str, str]) -> None:
        self.id = session_id
        self.scenario = scenario
        self.project_dir = project_dir
        self.store = store
        self.env = dict(env)
        self.base_url = ""
        self.pid: int | None = None
        self.startup_ms: float | None = None
        self._shots = 0
        self._stopped = False
        self._thread = ThreadPoolExecutor(max_workers=1,
                                          thread_name_prefix=f"cleanloop-app-{session_id}")
        self._browser: BrowserSession | None = None
        self._app: AppUnderTest | None = None
        self._stop_result: dict[str, Any] | None = None

    # -- called from any thread: each runs on the app's own thread -------------------------
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._thread.submit(fn)

    def call(self, fn: Callable[[], T]) -> T:
        return self._thread.submit(fn).result()

    def shutdown_thread(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    # -- run on the app's thread ------------------------------------------------------------
    def boot(self) -> None:
        """The app with its collectors (as `cleanloop run` boots it) and a page at /."""
        # the scenario's browser options as they are (viewport, screencast, trace ...)
        self._browser = BrowserSession(self.scenario.browser, self.env)
        self._app = AppUnderTest(self.scenario, self.project_dir, self.store, QuietProgress(),
                                 self.env, browser=self._browser, repeat=0,
                                 label=f"[{self.scenario.name}] session {self.id}")
        self._app.start()
        self.pid = self._app.handle.pid
        self.startup_ms = self._app.startup_ms
        self.base_url = self._app.base_url
        self._goto("/")

    def screenshot(self, path: str | None, full_page: bool) -> tuple[bytes, dict[str, Any]]:
        page = self._page(path)
        self._shots += 1
        file = artifact_path(self.store.dir, "screenshots", 0, self._shots, path or page.url,
                             ".png")
        try:
            save_screenshot(page, file, full_page=full_page)
        except PlaywrightError as exc:
            raise ProbeError(f"screenshot of {page.url} failed: {_first(exc)}") from exc
        return file.read_bytes(), {"file": str(file), "url": page.url}

    def snapshot(self, path: str | None) -> dict[str, Any]:
        page = self._page(path)
        self._shots += 1
        name = path or page.url
        html = artifact_path(self.store.dir, "dom", 0, self._shots, name, ".html")
        aria = artifact_path(self.store.dir, "dom", 0, self._shots, name, ".aria.yaml")
        files = save_dom(page, html, aria)
        dom = html.read_text(encoding="utf-8") if "dom" in files else ""
        return {"url": page.url, "dom": dom[:DOM_LIMIT], "dom_chars": len(dom),
                "dom_truncated": len(dom) > DOM_LIMIT,
                "aria": aria.read_text(encoding="utf-8") if "aria" in files else "",
                "files": files}

    def stop(self) -> dict[str, Any]:
        """Close the page, wait for the app's last telemetry, close the browser, stop the
        app and the collectors, write the tables. Idempotent."""
        if self._stop_result is not None:
            return self._stop_result
        self._stopped = True
        app = self._app
        try:
            if app is not None and app.running:
                app.end_steps()
        finally:
            try:
                if self._browser is not None:
                    self._browser.close()
            finally:
                rep = RunData(0) if app is None else app.stop()
                self.store.add(0, rep.columns)
                self.store.write_tables()
                self._stop_result = {
                    "session": self.id, "dir": str(self.store.dir),
                    "exit_code": None if app is None else app.stop_code,
                    "rows": {name: len(next(iter(cols.values()), []))
                             for name, cols in rep.columns.items()}}
        return self._stop_result

    # -- internals ---------------------------------------------------------------------------
    def _page(self, path: str | None) -> Page:
        app = self._app
        if self._stopped or app is None or app.browser_run is None:
            raise UsageError(f"session {self.id} is stopped")
        if not app.launcher.alive():
            raise ProbeError(f"the app of session {self.id} exited (code "
                             f"{app.launcher.exit_code()}); see {self.store.app_log}")
        if path is not None:
            self._goto(path)
        return app.browser_run.page

    def _goto(self, path: str) -> None:
        assert self._app is not None and self._app.browser_run is not None
        try:
            self._app.browser_run.page.goto(path)
        except PlaywrightError as exc:
            raise ProbeError(f"cannot open {path} at {self.base_url}: {_first(exc)}") from exc


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class LiveApps:
    """The live apps of one MCP server, by session id."""

    def __init__(self, state_root: Path, env: Mapping[str, str]) -> None:
        self.state_root = state_root
        self.env = dict(env)
        self._apps: dict[str, LiveApp] = {}
        self._lock = threading.Lock()

    def start(self, scenario: Scenario, project_dir: Path) -> LiveApp:
        session_id = secrets.token_hex(4)
        ensure_state_dir(self.state_root)
        store = RunStore(self.state_root / SESSIONS_DIR / session_id)
        for sub in ("screenshots", "dom"):
            (store.dir / sub).mkdir(parents=True, exist_ok=True)
        app = LiveApp(session_id, scenario, project_dir, store, self.env)
        with self._lock:
            self._apps[session_id] = app
        logger.info("mcp: starting session %s (%s)", session_id, scenario.name)
        try:
            app.call(app.boot)
        except BaseException:
            self.stop(session_id)
            raise
        return app

    def get(self, session_id: str) -> LiveApp:
        with self._lock:
            app = self._apps.get(session_id)
            known = sorted(self._apps)
        if app is None:
            raise UsageError(f"no live session {session_id!r} (live: {', '.join(known) or 'none'})")
        return app

    def stop(self, session_id: str) -> dict[str, Any]:
        app = self.get(session_id)
        try:
            return app.call(app.stop)
        finally:
            with self._lock:
                self._apps.pop(session_id, None)
            app.shutdown_thread()
            logger.info("mcp: session %s stopped", session_id)

    def stop_all(self, timeout_s: float) -> list[str]:
        """Stop every live app in parallel; returns the ids not stopped within the timeout."""
        with self._lock:
            apps, self._apps = dict(self._apps), {}
        futures = {sid: app.submit(app.stop) for sid, app in apps.items()}
        deadline = time.monotonic() + timeout_s
        late = []
        for sid, fut in futures.items():
            try:
                fut.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                late.append(sid)
            except Exception as exc:  # one broken app must not keep the others running
                logger.warning("mcp: stopping session %s failed: %s", sid, exc)
            apps[sid].shutdown_thread()
        return late

    def __len__(self) -> int:
        with self._lock:
            return len(self._apps)
