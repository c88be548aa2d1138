"""One repetition's browser context: runs steps, records what the page does.

A failed step is a StepResult; `ProbeError` is raised only when the browser itself is
gone (crashed, killed, disconnected). At the first failed step of a run a screenshot,
the DOM and the aria snapshot are captured automatically (paths in the evidence).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from cleanloop.loop.base.errors import ProbeError
from cleanloop.loop.base.schema import Columns
from cleanloop.loop.model.browser_steps import BrowserAction, parse_step
from cleanloop.loop.model.steps import Step, StepResult
from cleanloop.probes.browser_actions import StepContext, StepTimeout, perform
from cleanloop.probes.browser_artifacts import artifact_path, capture_page
from cleanloop.probes.browser_recorder import BrowserRecorder
from cleanloop.probes.browser_screencast import Screencast

if TYPE_CHECKING:
    from cleanloop.loop.model.scenario import BrowserOptions

logger = logging.getLogger(__name__)

PASSIVE_ACTIONS = frozenset({"wait_for", "expect_text", "expect_visible", "expect_count",
                             "screenshot", "snapshot"})


class BrowserRun:
    """Created by `BrowserSession.open()`; use once, then `drain()` and `close()`."""

    def __init__(
        self, browser: Browser, context: BrowserContext, *, settings: BrowserOptions,
        base_url: str, artifacts_dir: Path, repeat: int, browser_alive: Callable[[], bool],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._browser, self._context, self._settings = browser, context, settings
        self.artifacts_dir, self.repeat = artifacts_dir, repeat
        self._alive, self._clock = browser_alive, clock
        self._captured = self._closed = self._crashed = self._tracing = False
        self._screencast: Screencast | None = None
        self.recorder = BrowserRecorder(base_url, clock)
        self.recorder.attach(context)
        context.set_default_timeout(settings.timeout_s * 1000.0)
        self.page: Page = context.new_page()
        self.page.on("crash", self._on_crash)
        self._cdp = context.new_cdp_session(self.page)
        self._cdp.send("Performance.enable")
        if settings.performance_trace:
            self._start_trace()
        if settings.screencast:
            self._screencast = Screencast(
                self._cdp, artifacts_dir / f"screencast-r{repeat}-frames", size=settings.viewport)
            self._screencast.start()

    # -- steps ----------------------------------------------------------------------
    # waits, expectations and captures observe the page; requests that start while they run
    # were caused by the action before them (a click whose handler awaits, then fetches)
    def run_step(self, step: Step) -> StepResult:
        action = parse_step(step)
        self._require_browser(step)
        timeout_s = action.timeout_s or self._settings.timeout_s
        self.recorder.begin_step(step.index, causes_requests=action.name not in PASSIVE_ACTIONS)
        ctx = StepContext(page=self.page, cdp=self._cdp, artifacts_dir=self.artifacts_dir,
                          repeat=self.repeat, index=step.index, timeout_s=timeout_s)
        started_ns, t0 = self._clock(), time.perf_counter()
        result = StepResult(index=step.index, kind="browser", name=step.name, ok=True,
                            duration_ms=0.0, started_ns=started_ns)
        prefix = _prefix(step, action)
        logger.info("browser run %d: %s", self.repeat, prefix)
        try:
            result.evidence.update(perform(action, ctx))
        except (PlaywrightTimeoutError, StepTimeout):
            result.ok = False
            result.message = (f"{prefix} timed out after {_seconds(timeout_s)}s waiting for "
                              f"{action.target()!r}")
        except AssertionError as exc:
            result.ok, result.is_check = False, True
            result.message = f"{prefix}: expectation failed: {_summary(exc)}"
        except PlaywrightError as exc:
            if not self._alive():
                raise ProbeError(f"{prefix}: the browser is gone (crashed, killed or "
                                 f"disconnected): {_summary(exc)}") from exc
            result.ok = False
            crashed = " (the page crashed)" if self._crashed else ""
            result.message = f"{prefix} failed{crashed}: {_summary(exc)}"
        result.duration_ms = (time.perf_counter() - t0) * 1000.0
        if not result.ok and not self._captured:
            self._captured = True
            result.evidence.update(self.capture_failure("failure"))
        self.recorder.after_step(self.page, self._cdp)
        self.recorder.add("step", ts_ns=started_ns, text=step.name, name=action.name,
                          duration_ms=result.duration_ms, attributes=json.dumps({
                              "ok": result.ok, "is_check": result.is_check,
                              "message": result.message}))
        return result

    def capture_failure(self, label: str) -> dict[str, str]:
        """Screenshot + DOM + aria snapshot now; {"screenshot", "dom", "aria"} -> path."""
        if self._closed or self.page.is_closed() or not self._alive():
            return {}
        return capture_page(self.page, self.artifacts_dir, repeat=self.repeat,
                            step=self.recorder.step, name=label)

    def drain(self) -> dict[str, Columns]:
        """Every row so far as {"browser": columns}; vitals of the documents seen so far
        are emitted now (once per document)."""
        if not self._closed and self._alive() and not self.page.is_closed():
            self.recorder.finish(self.page)
        return {"browser": self.recorder.drain()}

    def close(self) -> None:
        """Flush vitals and requests, stop trace and screencast, close the context."""
        if self._closed:
            return
        self._closed = True
        alive = self._alive()
        try:
            self.recorder.finish(self.page if alive else None)
        except PlaywrightError as exc:
            logger.warning("browser run %d: final collection failed: %s", self.repeat,
                           _summary(exc))
        self.recorder.recording = False
        if alive:
            self._stop_recordings()
            try:
                self._context.close()
            except PlaywrightError as exc:
                logger.warning("browser context did not close cleanly: %s", _summary(exc))
        if self._screencast is not None:
            video = self._screencast.finish(self.artifacts_dir / f"screencast-r{self.repeat}")
            if video is not None:
                logger.info("screencast written to %s", video)

    def __enter__(self) -> BrowserRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------
    def _require_browser(self, step: Step) -> None:
        if self._closed:
            raise ProbeError(f"{step.where()}: this browser run is already closed")
        if not self._alive():
            raise ProbeError(f"{step.where()}: the browser is gone (crashed, killed or "
                             "disconnected); cannot run browser steps")

    def _on_crash(self, page: Page) -> None:
        self._crashed = True
        self.recorder.on_page_crash(page)
        logger.warning("browser page crashed (renderer process gone) at %s", page.url)

    def _start_trace(self) -> None:
        path = artifact_path(self.artifacts_dir, "traces", self.repeat, None, "trace", ".json")
        try:
            self._browser.start_tracing(page=self.page, path=path)
            self._tracing = True
        except PlaywrightError as exc:
            logger.warning("performance trace not started: %s", _summary(exc))

    def _stop_recordings(self) -> None:
        if self._screencast is not None:
            self._screencast.stop()
        if self._tracing:
            self._tracing = False
            try:
                self._browser.stop_tracing()
            except PlaywrightError as exc:
                logger.warning("performance trace not saved: %s", _summary(exc))


def _prefix(step: Step, action: BrowserAction) -> str:
    where = f"{step.source}:{step.line}" if step.source else f"line {step.line}"
    return f"step #{step.index} ({action.name}) at {where}"


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _summary(exc: BaseException, limit: int = 600) -> str:
    """The useful head of a Playwright message: no call log, one line."""
    text = str(exc).split("Call log:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = "; ".join(lines) or type(exc).__name__
    return joined if len(joined) <= limit else joined[:limit] + "..."
