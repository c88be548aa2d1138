"""The page of a live session, driven on the session's own thread (Playwright's sync API is
bound to it): actions as browser steps, snapshots with element refs, marks, the browser's
rows since a mark.

An action runs as the browser step it is recorded as (BrowserRun.run_step, the executor
`cleanloop run` uses), so what the agent did and what the saved scenario replays are the same
step. An element given by ref is acted on through the stable selector recorded for it (checked
to match exactly that element). After the step the page settles: requests the action started
are waited for (bounded by SETTLE_MAX_S), so their rows, statuses and trace ids are there
when the tool returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request

from cleanloop.loop.base.errors import ProbeError
from cleanloop.loop.mcp.live_emulation import EmulationState, apply
from cleanloop.loop.mcp.live_marks import Mark, Marks, since
from cleanloop.loop.mcp.live_recording import Recording
from cleanloop.loop.mcp.live_refs import RefTable, Target
from cleanloop.loop.model.steps import Step, StepResult
from cleanloop.probes.browser import BrowserRun
from cleanloop.probes.browser_artifacts import CAPTURE_TIMEOUT_MS, artifact_path

logger = logging.getLogger(__name__)

SETTLE_FIRST_MS = 50.0     # lets the events of what the action started reach us
SETTLE_POLL_MS = 25.0
SETTLE_MAX_S = 5.0         # the longest an action waits for the requests it started
#: actions that observe rather than act: recorded even when their condition did not come true
#: (on a buggy app that is the reproduction), never a tool error
EXPECTATIONS = frozenset({"wait_for"})


@dataclass
class Outcome:
    """What one action did."""

    result: StepResult
    mark: Mark
    step: int | None
    selector: str | None
    url: str
    message: str = ""
    browser: list[dict[str, Any]] = field(default_factory=list)


class LivePage:
    """One session's page: acts, records, marks. Every method runs on the session's thread."""

    def __init__(self, session: str, run: BrowserRun, base_url: str, session_dir: Path,
                 telemetry_counts: Callable[[], Mapping[str, int]]) -> None:
        self.session, self.run, self.base_url, self.dir = session, run, base_url, session_dir
        self.page: Page = run.page
        self.refs = RefTable()
        self.recording = Recording(session_dir)
        self.marks = Marks()
        self.emulation = EmulationState()
        self._telemetry_counts = telemetry_counts
        self._actions = 0
        self._files = 0
        self._inflight: dict[Request, float] = {}
        context = self.page.context
        context.on("request", self._started)
        context.on("requestfinished", self._ended)
        context.on("requestfailed", self._ended)

    # -- marks and rows ----------------------------------------------------------------------
    def mark(self) -> Mark:
        return self.marks.add(time.time_ns(), self.run.recorder.row_count(),
                              self._telemetry_counts())

    def browser_since(self, mark: Mark) -> list[dict[str, Any]]:
        """The browser rows (console, pageerror, request ...) since `mark`."""
        recorder = self.run.recorder
        recorder.flush_requests()
        return since(recorder.peek(mark.browser_rows), mark)

    def requests_by_trace(self) -> list[dict[str, Any]]:
        """Every request row of the session that carries a trace id."""
        return [r for r in self.browser_since(self.marks.ORIGIN)
                if r["kind"] in ("request", "requestfailed") and r.get("trace_id")]

    # -- actions -----------------------------------------------------------------------------
    def act(self, action: str, fields: Any, *, target: Target | None = None,
            label: str = "", timeout_s: float | None = None) -> Outcome:
        """Run one action as a browser step and record it; ProbeError when it failed (except
        an expectation, which returns its failed result)."""
        self._actions += 1
        label = target.label if target is not None else label
        name = f"{action} {label}".strip()
        params: dict[str, Any] = {action: fields}
        if timeout_s is not None:
            params["timeout"] = timeout_s
        mark = self.mark()
        url_before = self.page.url
        step = Step("browser", self._actions, self._actions, name[:100], params,
                    source=f"live session {self.session}")
        started = time.monotonic()
        result = self.run.run_step(step)
        self._settle(started)
        url = self.page.url
        if _navigated(url_before, url):
            self.refs.clear(f"the page navigated to {url}")
        recorded_selector = target.recorded if target is not None else None
        recordable = target is None or recorded_selector is not None
        number = None
        if recordable and (result.ok or action in EXPECTATIONS):
            number = self.recording.add(step.name, params)
        message = _message(step, result)
        if not result.ok and action not in EXPECTATIONS:
            files = ", ".join(f"{k}: {v}" for k, v in result.evidence.items())
            raise ProbeError(message + (f" (captured {files})" if files else ""))
        if result.ok and action == "emulate":
            apply(self.emulation, dict(fields))
        return Outcome(result, mark, number, recorded_selector, url, message,
                       self.browser_since(mark))

    def relative(self, url: str) -> str:
        """A URL of the app's own origin as a path, so the recorded step works on any port."""
        if url.startswith(self.base_url):
            rest = url[len(self.base_url):]
            return rest if rest.startswith("/") else "/" + rest
        return url

    def open(self, path: str) -> Outcome:
        """The session's first page: `goto path` (its mark is m0), recorded as step 1."""
        return self.act("goto", path, label=path)

    # -- captures ----------------------------------------------------------------------------
    def snapshot(self) -> tuple[str, str, dict[str, str]]:
        """(aria snapshot with refs, HTML, files written); the refs become the latest."""
        self._files += 1
        aria = self.page.aria_snapshot(mode="ai", timeout=CAPTURE_TIMEOUT_MS)
        html = self.page.content()
        self.refs.update(aria)
        name = f"snapshot-{self.refs.number}"
        files = {"dom": artifact_path(self.dir, "dom", 0, self._files, name, ".html"),
                 "aria": artifact_path(self.dir, "dom", 0, self._files, name, ".aria.yaml")}
        files["dom"].write_text(html, encoding="utf-8")
        files["aria"].write_text(aria + "\n", encoding="utf-8")
        return aria, html, {k: str(v) for k, v in files.items()}

    def screenshot(self, full_page: bool) -> Path:
        """A PNG of the page as it is now (no navigation)."""
        self._files += 1
        file = artifact_path(self.dir, "screenshots", 0, self._files, self.page.url, ".png")
        try:
            self.page.screenshot(path=str(file), full_page=full_page, timeout=CAPTURE_TIMEOUT_MS)
        except PlaywrightError as exc:
            raise ProbeError(f"screenshot of {self.page.url} failed: {_first(exc)}") from exc
        return file

    # -- internals ---------------------------------------------------------------------------
    def _started(self, request: Request) -> None:
        self._inflight[request] = time.monotonic()

    def _ended(self, request: Request) -> None:
        self._inflight.pop(request, None)

    def _settle(self, started: float) -> None:
        """Wait (bounded) for the requests started since `started` to end."""
        deadline = time.monotonic() + SETTLE_MAX_S
        try:
            self.page.wait_for_timeout(SETTLE_FIRST_MS)
            while (any(t >= started for t in self._inflight.values())
                   and time.monotonic() < deadline):
                self.page.wait_for_timeout(SETTLE_POLL_MS)
        except PlaywrightError as exc:  # the page went away; the caller finds out next
            logger.debug("live page %s: settle stopped: %s", self.session, exc)
        if any(t >= started for t in self._inflight.values()):
            logger.info("live page %s: requests still open after %.0f s", self.session,
                        SETTLE_MAX_S)


def _navigated(before: str, after: str) -> bool:
    return before.split("#", 1)[0] != after.split("#", 1)[0]


def _message(step: Step, result: StepResult) -> str:
    """The step's message, named by the action rather than by a scenario line."""
    action = next(k for k in step.params if k != "timeout")
    prefix = f"step #{step.index} ({action}) at {step.source}:{step.line}"
    message = result.message
    return step.name + message[len(prefix):] if message.startswith(prefix) else message


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
