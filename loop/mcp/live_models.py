"""What the live-session tools take and return: the arguments they share (with the
descriptions a client shows) and pydantic result models, so each tool has a real output schema.

Times are `at_ms`, milliseconds since the session's page opened (the session's mark m0);
lists are bounded by the call's `limit` and say `total` (before the limit) and `truncated`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, JsonValue

MAX_TIMEOUT_S = 60.0
MAX_LIMIT = 500

SessionId = Annotated[str, Field(description="the session id returned by start_app")]
Ref = Annotated[str | None, Field(
    description="element reference from the latest snapshot, e.g. 'e27'")]
Selector = Annotated[str | None, Field(
    description="Playwright selector instead of a ref, e.g. '#search', "
                "'role=button[name=\"Checkout\"]', 'text=\"Add to cart\"'")]
Timeout = Annotated[float | None, Field(
    gt=0, le=MAX_TIMEOUT_S,
    description="seconds to wait for the element or condition (default: the scenario's "
                "browser timeout, 10 s; at most 60); recorded with the step when given")]
Since = Annotated[str | None, Field(
    description="a mark id ('m3', from mark or any action), or 'start' (everything since "
                "the app booted); default: the latest mark (the last action's)")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="at most this many entries")]


class StartedApp(BaseModel):
    session: str = Field(description="the session id: pass it to every other live tool")
    base_url: str
    url: str = Field(description="the page's URL")
    pid: int | None
    startup_ms: float | None = Field(description="spawn to ready, as `cleanloop run` measures")
    dir: str = Field(description="the session directory: app.log, screenshots, steps.yaml")
    mark: str = Field(description="the mark at the page's opening, 'm0'")


class StoppedApp(BaseModel):
    session: str
    dir: str = Field(description="holds spans/logs/metrics/browser tables; `query` reads it")
    exit_code: int | None
    rows: dict[str, int] = Field(description="rows per table")
    recorded_steps: int = Field(description="scenario steps recorded (see steps.yaml)")


class ScreenshotInfo(BaseModel):
    session: str
    file: str = Field(description="the PNG file")
    url: str


class Snapshot(BaseModel):
    session: str
    url: str
    title: str
    snapshot: int = Field(description="this snapshot's number; refs are those of the latest")
    aria: str = Field(description="aria tree with [ref=eN] element references")
    aria_truncated: bool
    refs: int = Field(description="element references in the snapshot")
    dom: str = Field(description="the page's HTML, truncated to dom_chars_max characters")
    dom_chars: int
    dom_truncated: bool
    files: dict[str, str] = Field(description="full DOM (dom) and aria snapshot (aria) files")


class ActionResult(BaseModel):
    session: str
    action: str
    ok: bool = Field(description="false only for a wait_for whose condition did not come true")
    message: str = ""
    step: int | None = Field(description="number of the recorded scenario step (1-based), "
                                         "null when not recorded")
    selector: str | None = Field(description="the stable selector recorded for the element")
    url: str = Field(description="the page's URL after the action")
    mark: str = Field(description="mark taken just before the action (the default `since`)")
    result: JsonValue = Field(default=None, description="evaluate: the expression's value")
    errors: int = Field(description="console errors and uncaught exceptions since the mark")
    requests: int = Field(description="requests started since the mark")
    failed_requests: int = Field(description="of those, status >= 400 or no response")
    evidence: dict[str, str] = Field(default_factory=dict,
                                     description="failure screenshot/DOM/aria files")


class MarkResult(BaseModel):
    session: str
    mark: str
    url: str


class ConsoleEntry(BaseModel):
    at_ms: float
    source: str = Field(description="'console' (console.* call) or 'exception' (uncaught)")
    level: str = Field(description="debug, log, info, warning or error")
    text: str
    location: str | None = Field(description="url:line:col of the call or throwing frame")
    url: str | None


class ConsoleMessages(BaseModel):
    session: str
    since: str
    entries: list[ConsoleEntry]
    total: int
    truncated: bool


class PageErrorEntry(BaseModel):
    at_ms: float
    message: str
    location: str | None = Field(description="url:line:col of the first stack frame")
    stack: str | None
    url: str | None = Field(description="the page's URL")


class PageErrors(BaseModel):
    session: str
    since: str
    entries: list[PageErrorEntry]
    total: int
    truncated: bool


class RequestEntry(BaseModel):
    at_ms: float
    method: str | None
    url: str | None
    status: int | None = Field(description="HTTP status; null when no response came")
    failure: str | None = Field(description="why no response came (net::ERR_...)")
    duration_ms: float | None
    size: int | None
    resource_type: str | None
    trace_id: str | None = Field(description="trace id sent in traceparent (the app's origin)")
    spans: int = Field(description="backend spans received so far with that trace id")


class NetworkRequests(BaseModel):
    session: str
    since: str
    entries: list[RequestEntry]
    total: int
    truncated: bool


class RequestRef(BaseModel):
    method: str | None
    url: str | None
    status: int | None


class SpanEntry(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str | None
    service: str | None
    at_ms: float
    duration_ms: float | None
    status: str | None
    status_message: str | None
    attributes: dict[str, JsonValue]
    request: RequestRef | None = Field(description="the page's request that started the trace")


class LogEntry(BaseModel):
    at_ms: float
    source: str | None = Field(description="otlp, stdout or stderr")
    level: str | None
    message: str
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, JsonValue]


class MetricSeries(BaseModel):
    name: str
    sample: str | None
    type: str | None
    labels: dict[str, JsonValue]
    value: float | None = Field(description="the latest value since the mark")
    points: int = Field(description="points of this series since the mark")
    source: str | None = Field(description="otlp or prometheus")
    at_ms: float


class BackendTelemetry(BaseModel):
    session: str
    since: str
    trace_id: str | None
    spans: list[SpanEntry]
    logs: list[LogEntry]
    metrics: list[MetricSeries]
    totals: dict[str, int] = Field(description="spans, logs, metric series before the limit")
    truncated: bool
    waited_ms: float = Field(description="time spent waiting for the app's exports to settle")


class Emulation(BaseModel):
    session: str
    cpu_rate: float = Field(description="CPU slowdown factor now in effect (1 = none)")
    network: dict[str, float | bool] = Field(description="the network conditions in effect")
    step: int | None
    mark: str


class SavedScenario(BaseModel):
    path: str
    name: str
    steps: int
    checks: list[str]
    app_cwd: str = Field(description="app.cwd written so the app boots from the new file")
