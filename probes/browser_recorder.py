"""Everything a browser context emits, captured into the `browser` table (columns).

Rows use exactly the columns of `cleanloop.loop.base.schema.BROWSER` except `repeat` (the run
session adds it); values that do not apply are None. Kinds:

    console        level (error/warning/info/log/debug), text, url, location "url:line:col"
                   (1-based line and column)
    pageerror      text (message), stack, location of the first stack frame
    request        url, method, status, duration_ms (request start -> response end),
                   size (response body bytes), trace_id (set for requests to the app's
                   origin: the injected W3C traceparent), ts_ns = request start
    requestfailed  url, method, text = failure ("net::ERR_CONNECTION_REFUSED"), trace_id
    step, vital, navigation, cdp_metrics   (see BrowserRun and browser_vitals)

Event handlers only append; anything needing a round trip to the browser (request
sizes, vitals, CDP metrics) happens in `after_step()` / `finish()` on the caller's
thread. Requests to the base URL's origin get a fresh `traceparent` header
(`00-<trace>-<span>-01`) through `context.route`, unless the page set one itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    BrowserContext,
    CDPSession,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    WebError,
)
from playwright.sync_api import Error as PlaywrightError

from cleanloop.loop.base.schema import Columns, column_names
from cleanloop.probes.browser_vitals import VITALS_SCRIPT, VitalsTracker

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = tuple(name for name in column_names("browser") if name != "repeat")

#: CDP Performance.getMetrics names kept after each step (durations are CDP seconds)
CDP_METRICS: frozenset[str] = frozenset({
    "JSHeapUsedSize", "JSHeapTotalSize", "Nodes", "Documents", "Frames", "JSEventListeners",
    "LayoutObjects", "LayoutCount", "RecalcStyleCount", "LayoutDuration",
    "RecalcStyleDuration", "ScriptDuration", "TaskDuration", "ThreadTime", "ProcessTime",
})

CONSOLE_LEVELS = {"error": "error", "assert": "error", "warning": "warning", "warn": "warning",
                  "info": "info", "debug": "debug", "trace": "debug"}
MAX_TEXT = 8192
_FRAME = re.compile(r"(?:\(|\bat\s+|@)((?:https?|file|data|blob):[^\s()]*?):(\d+):(\d+)\)?\s*$")


def new_traceparent() -> tuple[str, str]:
    """(header value, trace id) with fresh random ids, sampled."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return f"00-{trace_id}-{span_id}-01", trace_id


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def location_from_stack(stack: str) -> str | None:
    """`url:line:col` of the first stack frame that names a URL."""
    for line in stack.splitlines()[1:] or stack.splitlines():
        match = _FRAME.search(line.strip())
        if match:
            return f"{match.group(1)}:{match.group(2)}:{match.group(3)}"
    return None


def console_level(kind: str) -> str:
    return CONSOLE_LEVELS.get(kind, "log")


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


class BrowserRecorder:
    """Collects browser-table rows for one browser context."""

    def __init__(self, base_url: str, clock: Callable[[], int] = time.time_ns) -> None:
        self._origin = origin_of(base_url)
        self._clock = clock
        self._columns: Columns = {name: [] for name in COLUMNS}
        self._trace_ids: dict[Request, str] = {}
        self._statuses: dict[Request, int] = {}
        self._finished: list[Request] = []
        self._step_starts: list[tuple[int, int | None]] = []  # (wall clock ns, step index)
        self._vitals = VitalsTracker(clock)
        self._step: int | None = None
        self.recording = True
        self.dropped = 0

    @property
    def step(self) -> int | None:
        """The step running now; rows are attributed to it."""
        return self._step

    @step.setter
    def step(self, index: int | None) -> None:
        self.begin_step(index)

    def begin_step(self, index: int | None, causes_requests: bool = True) -> None:
        """A step starts. Requests starting from now on belong to it when it can cause
        requests (an action), else to the last action before it (a wait, an expectation)."""
        self._step = index
        if causes_requests or not self._step_starts:
            self._step_starts.append((self._clock(), index))

    def step_at(self, ts_ns: int | None) -> int | None:
        """The action step that was running at `ts_ns`: events reach Python late (during the
        next call into the browser), so a request is attributed by when it started."""
        if ts_ns is None:
            return self._step
        found = self._step_starts[0][1] if self._step_starts else self._step
        for started, index in self._step_starts:
            if started > ts_ns:
                break
            found = index
        return found

    # -- wiring -------------------------------------------------------------------
    def attach(self, context: BrowserContext) -> None:
        context.add_init_script(script=VITALS_SCRIPT)
        # a glob (matched in the driver) so other origins are never paused for Python
        context.route(self._origin + "/**", self._route)
        context.on("console", self._on_console)
        context.on("weberror", self._on_weberror)
        context.on("response", self._on_response)
        context.on("requestfinished", self._on_request_finished)
        context.on("requestfailed", self._on_request_failed)

    def add(self, kind: str, **values: Any) -> None:
        """Append one row; unknown column names are a programming error."""
        if not self.recording:
            self.dropped += 1
            return
        values.setdefault("ts_ns", self._clock())
        values.setdefault("step", self.step)
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise KeyError(f"not browser-table columns: {sorted(unknown)}")
        values["kind"] = kind
        for name in COLUMNS:
            self._columns[name].append(values.get(name))

    # -- event handlers (append only) ---------------------------------------------
    def _route(self, route: Route) -> None:
        request = route.request
        try:
            if origin_of(request.url) != self._origin:
                route.continue_()
                return
            headers = dict(request.headers)
            existing = headers.get("traceparent", "")
            parts = existing.split("-")
            if len(parts) == 4 and len(parts[1]) == 32:
                self._trace_ids[request] = parts[1]
                route.continue_()
                return
            headers["traceparent"], self._trace_ids[request] = new_traceparent()
            route.continue_(headers=headers)
        except PlaywrightError as exc:  # the page went away mid-request
            logger.debug("route for %s not continued: %s", request.url, exc)

    def _on_console(self, message: ConsoleMessage) -> None:
        loc = message.location or {}
        url = loc.get("url") or None
        location = None
        if url:
            location = f"{url}:{int(loc.get('lineNumber', 0)) + 1}:" \
                       f"{int(loc.get('columnNumber', 0)) + 1}"
        self.add("console", level=console_level(message.type), text=_clip(message.text),
                 url=url, location=location)

    def _on_weberror(self, web_error: WebError) -> None:
        error = web_error.error
        stack = error.stack or ""
        url = web_error.page.url if web_error.page is not None else None
        text = f"{error.name}: {error.message}" if error.name else error.message
        self.add("pageerror", level="error", text=_clip(text), stack=_clip(stack),
                 location=location_from_stack(stack), url=url,
                 attributes=json.dumps({"name": error.name}))

    def _on_request_finished(self, request: Request) -> None:
        self._finished.append(request)

    def _on_response(self, response: Response) -> None:
        self._statuses[response.request] = response.status

    def _on_request_failed(self, request: Request) -> None:
        self.add("requestfailed", url=request.url, method=request.method,
                 text=request.failure, trace_id=self._trace_ids.pop(request, None),
                 ts_ns=_start_ns(request) or self._clock(),
                 step=self.step_at(_start_ns(request)),
                 attributes=json.dumps({"resource_type": request.resource_type}))
        self._statuses.pop(request, None)

    def on_page_crash(self, page: Page) -> None:
        self.add("pageerror", level="error", text="page crashed (renderer process gone)",
                 url=page.url)

    # -- work on the caller's thread -----------------------------------------------
    def flush_requests(self) -> None:
        """Turn finished requests into rows (sizes need a round trip each)."""
        finished, self._finished = self._finished, []
        for request in finished:
            size = None
            try:
                size = request.sizes()["responseBodySize"]
            except PlaywrightError as exc:
                logger.debug("no sizes for %s: %s", request.url, exc)
            timing = request.timing
            end = timing.get("responseEnd", -1)
            self.add("request", url=request.url, method=request.method,
                     status=self._statuses.pop(request, None),
                     duration_ms=float(end) if end is not None and end >= 0 else None,
                     size=size, trace_id=self._trace_ids.pop(request, None),
                     ts_ns=_start_ns(request) or self._clock(),
                     step=self.step_at(_start_ns(request)),
                     attributes=json.dumps({"resource_type": request.resource_type}))

    def after_step(self, page: Page, cdp: CDPSession | None) -> None:
        """Requests, a vitals snapshot and CDP metrics after a step (best effort)."""
        self.flush_requests()
        self._vitals.observe(page, self.step)
        if cdp is not None:
            self.cdp_metrics(cdp)

    def cdp_metrics(self, cdp: CDPSession) -> None:
        try:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
        except (PlaywrightError, KeyError) as exc:
            logger.debug("Performance.getMetrics failed: %s", exc)
            return
        now = self._clock()
        for metric in metrics:
            if metric.get("name") in CDP_METRICS:
                self.add("cdp_metrics", ts_ns=now, name=metric["name"],
                         value=float(metric["value"]))

    def finish(self, page: Page | None) -> None:
        """Last snapshot, then vitals rows for every document seen."""
        self.flush_requests()
        if page is not None and not page.is_closed():
            self._vitals.observe(page, self.step)
        for row in self._vitals.take_rows():
            kind = row.pop("kind")
            self.add(kind, **row)

    def drain(self) -> Columns:
        columns, self._columns = self._columns, {name: [] for name in COLUMNS}
        return columns

    def row_count(self) -> int:
        """Rows recorded so far and not drained (a mark for `peek`)."""
        return len(self._columns["kind"])

    def peek(self, start: int = 0) -> Columns:
        """A copy of the rows from row `start` on, without draining them (finished requests
        become rows in `flush_requests()`; call it first to see them)."""
        return {name: values[start:] for name, values in self._columns.items()}


def _start_ns(request: Request) -> int | None:
    start = request.timing.get("startTime")
    return int(start * 1_000_000) if start and start > 0 else None
