"""Live apps for MCP clients: boot a scenario's app, keep it and a browser page until stopped.

    start  -> the app under test as `cleanloop run` boots it (cleanloop.loop.run.app:
              collectors, the scenario's launcher, readiness, scraper) with a Chromium page
              (the scenario's browser options) opened at / (recorded as the first step)
    page   -> the session's LivePage (cleanloop.loop.mcp.live_page): actions, snapshots,
              marks, the browser's rows; run on the session's thread via call()
    telemetry -> what the app sent so far, without draining it (any thread)
    stop   -> close the page -> wait for the app's last telemetry -> close the browser
              -> stop the app -> flush the collectors -> spans/logs/metrics/browser.parquet
              in the session directory

Playwright's sync API is bound to the thread that started it and refuses a thread that
runs an asyncio loop, so each live app owns one worker thread and every call on its page runs
there. Each session has its own Chromium and browser context (cookies, storage, cache), and
belongs to the MCP client that started it (`owner`): another client's calls are refused.
Session files live in `.cleanloop/sessions/<id>/`, apart from the runs, so "last" keeps naming
the last finished run; a stopped session's directory can still be queried.
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
from typing import TypeVar

from cleanloop.loop.base.errors import ProbeError, UsageError
from cleanloop.loop.base.schema import Columns
from cleanloop.loop.mcp.live_models import StoppedApp
from cleanloop.loop.mcp.live_page import LivePage
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.run import quiesce
from cleanloop.loop.run.app import AppUnderTest
from cleanloop.loop.run.progress import QuietProgress
from cleanloop.loop.store.run_store import RunStore, ensure_state_dir
from cleanloop.probes.browser import BrowserSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
SESSIONS_DIR = Path(".cleanloop") / "sessions"


class LiveApp:
    """One booted app with its collectors and one browser page, driven from its own thread."""

    def __init__(self, session_id: str, scenario: Scenario, project_dir: Path, store: RunStore,
                 env: Mapping[str, str], owner: str) -> None:
        self.id = session_id
        self.scenario = scenario
        self.project_dir = project_dir
        self.store = store
        self.env = dict(env)
        #: the MCP client that started the session (cleanloop.loop.mcp.live_clients)
        self.owner = owner
        self.base_url = ""
        self.pid: int | None = None
        self.startup_ms: float | None = None
        self._stopped = False
        self._thread = ThreadPoolExecutor(max_workers=1,
                                          thread_name_prefix=f"cleanloop-app-{session_id}")
        self._browser: BrowserSession | None = None
        self._app: AppUnderTest | None = None
        self._page: LivePage | None = None
        self._stop_result: StoppedApp | None = None

    # -- called from any thread: each runs on the app's own thread -------------------------
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._thread.submit(fn)

    def call(self, fn: Callable[[], T]) -> T:
        return self._thread.submit(fn).result()

    def on_page(self, fn: Callable[[LivePage], T]) -> T:
        """`fn(page)` on the app's thread, once the session is known to be usable."""
        return self.call(lambda: fn(self.page()))

    def shutdown_thread(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    # -- telemetry (any thread: the collectors lock) --------------------------------------
    def settle_telemetry(self) -> float:
        """Wait (bounded, quiesce's window) until the app's exports are quiet; the ms waited."""
        app = self._running()
        assert app.receiver is not None
        receiver = app.receiver
        outcome = quiesce.wait_for_last_export(receiver.activity,
                                               quiesce.Mark.now(receiver.activity()),
                                               quiesce.Window.for_env(app.env),
                                               app.launcher.alive)
        return round(outcome.waited_ms, 1)

    def telemetry(self, start: Mapping[str, int] | None = None) -> dict[str, Columns]:
        """What the collectors hold so far (from each source's row `start[source]` on)."""
        return self._running().peek_telemetry(start)

    # -- run on the app's thread ------------------------------------------------------------
    def boot(self) -> None:
        """The app with its collectors (as `cleanloop run` boots it) and a page at /."""
        # the scenario's browser options as they are (viewport, screencast, trace ...)
        self._browser = BrowserSession(self.scenario.browser, self.env)
        self._app = app = AppUnderTest(self.scenario, self.project_dir, self.store,
                                       QuietProgress(), self.env, browser=self._browser,
                                       repeat=0, label=f"[{self.scenario.name}] session {self.id}")
        app.start()
        self.pid = app.handle.pid
        self.startup_ms = app.startup_ms
        self.base_url = app.base_url
        assert app.browser_run is not None
        self._page = LivePage(self.id, app.browser_run, app.base_url, self.store.dir,
                              app.telemetry_counts)
        self._page.open("/")

    def page(self) -> LivePage:
        """The session's page, or a clear error when the session or its app is gone."""
        app = self._running()
        if self._page is None or app.browser_run is None:
            raise UsageError(f"session {self.id} has no page")
        return self._page

    def stop(self) -> StoppedApp:
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
                self._stop_result = StoppedApp(
                    session=self.id, dir=str(self.store.dir),
                    exit_code=None if app is None else app.stop_code,
                    rows={name: len(next(iter(cols.values()), []))
                          for name, cols in rep.columns.items()},
                    recorded_steps=0 if self._page is None else len(self._page.recording.steps))
        return self._stop_result

    # -- internals ---------------------------------------------------------------------------
    def _running(self) -> AppUnderTest:
        app = self._app
        if self._stopped or app is None:
            raise UsageError(f"session {self.id} is stopped")
        if not app.launcher.alive():
            raise ProbeError(f"the app of session {self.id} exited (code "
                             f"{app.launcher.exit_code()}); see {self.store.app_log}")
        return app


class LiveApps:
    """The live apps of one MCP server, by session id."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._apps: dict[str, LiveApp] = {}
        self._lock = threading.Lock()

    def start(self, scenario: Scenario, project_dir: Path, state_root: Path,
              owner: str) -> LiveApp:
        session_id = secrets.token_hex(4)
        ensure_state_dir(state_root)
        store = RunStore(state_root / SESSIONS_DIR / session_id)
        for sub in ("screenshots", "dom"):
            (store.dir / sub).mkdir(parents=True, exist_ok=True)
        app = LiveApp(session_id, scenario, project_dir, store, self.env, owner)
        with self._lock:
            self._apps[session_id] = app
        logger.info("mcp: starting session %s (%s)", session_id, scenario.name)
        try:
            app.call(app.boot)
        except BaseException:
            self.stop(session_id, owner)
            raise
        return app

    def get(self, session_id: str, owner: str) -> LiveApp:
        """The session `session_id` if the client `owner` started it."""
        with self._lock:
            app = self._apps.get(session_id)
            mine = sorted(sid for sid, a in self._apps.items() if a.owner == owner)
        if app is None:
            raise UsageError(f"no live session {session_id!r} (yours: "
                             f"{', '.join(mine) or 'none'}); start_app starts one")
        if app.owner != owner:
            raise UsageError(f"session {session_id} belongs to another MCP client; a client "
                             "drives only the sessions it started (start_app gives you your own, "
                             "with its own browser context)")
        return app

    def stop(self, session_id: str, owner: str) -> StoppedApp:
        app = self.get(session_id, owner)
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
