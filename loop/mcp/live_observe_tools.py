"""The MCP tools that look at a live session: mark, console_messages, page_errors,
network_requests, backend_telemetry.

They read what the browser recorder and the collectors hold, without draining it (the
session's tables at stop still get every row), since a mark (cleanloop.loop.mcp.live_marks):
by default the latest one, which every action takes just before it acts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from cleanloop.loop.mcp.apps import LiveApps
from cleanloop.loop.mcp.live_clients import client_of
from cleanloop.loop.mcp.live_marks import (
    START,
    Mark,
    console_entries,
    page_error_entries,
    request_entries,
)
from cleanloop.loop.mcp.live_models import (
    BackendTelemetry,
    ConsoleMessages,
    Limit,
    MarkResult,
    NetworkRequests,
    PageErrors,
    RequestRef,
    SessionId,
    Since,
)
from cleanloop.loop.mcp.live_page import LivePage
from cleanloop.loop.mcp.live_telemetry import backend, span_counts
from cleanloop.loop.mcp.registry import ToolHost, tool

Level = Literal["debug", "log", "info", "warning", "error"]
LISTS = (" Entries are in time order (the first `limit`); total counts them all and truncated "
         "says whether some were left out. at_ms is milliseconds since the session's page "
         "opened.")
DESCRIPTIONS = {
    "mark": "Take a mark in the session now and return its id; pass it as `since` to "
            "console_messages, page_errors, network_requests or backend_telemetry to see "
            "only what happened after it. Every action also takes one (its `mark`); without "
            "`since` those tools read from the latest mark; 'start' means everything since "
            "the app booted. Returns session, mark and the page's url.",
    "console_messages": "The session page's console since a mark, as DevTools shows it: "
                        "console.* calls (source 'console') and uncaught exceptions (source "
                        "'exception', level error), each with level, text and location "
                        "(url:line:col of the call or of the throwing frame). `level` keeps "
                        "that level and above (debug < log = info < warning < error)." + LISTS,
    "page_errors": "Uncaught exceptions (and page crashes) of the session's page since a mark: "
                   "message, location (url:line:col of the first stack frame), stack and the "
                   "page's url." + LISTS,
    "network_requests": "The page's requests since a mark (those that started after it): "
                        "method, url, status (null when no response came, with failure "
                        "saying why), duration_ms, size, resource_type, trace_id (the W3C "
                        "trace id injected into requests to the app, which the app's spans "
                        "carry) and spans (backend spans received so far for it: read them "
                        "with backend_telemetry trace_id=...). failed_only keeps status >= "
                        "400 and failed requests." + LISTS,
    "backend_telemetry": "What the app under test sent since a mark: spans (name, kind, "
                         "status, duration_ms, attributes, and `request`: the page's request "
                         "that started the trace), logs (OTLP and stdout/stderr lines with "
                         "level, message and trace id) and metric series (latest value and "
                         "point count since the mark). trace_id keeps one trace's spans and "
                         "logs (and searches the whole session unless `since` is given). "
                         "Waits first, at most 2 s, until the app's exports are quiet "
                         "(wait=false skips that). Lists keep the first `limit` of each; "
                         "totals counts them all.",
}


class ObserveTools:
    """mark, console_messages, page_errors, network_requests, backend_telemetry."""

    def __init__(self, host: ToolHost, apps: LiveApps) -> None:
        self.host = host
        self.apps = apps

    def tools(self) -> list[Tool]:
        d = DESCRIPTIONS
        return [
            tool(self.mark, title="Mark a moment in the session", read_only=False,
                 description=d["mark"]),
            tool(self.console_messages, title="Console messages since a mark", read_only=True,
                 description=d["console_messages"]),
            tool(self.page_errors, title="Uncaught page errors since a mark", read_only=True,
                 description=d["page_errors"]),
            tool(self.network_requests, title="Page requests since a mark", read_only=True,
                 description=d["network_requests"]),
            tool(self.backend_telemetry, title="The app's spans, logs and metrics since a mark",
                 read_only=True, description=d["backend_telemetry"]),
        ]

    async def mark(self, session: SessionId, ctx: Context | None = None) -> MarkResult:
        owner = client_of(ctx)

        def run(page: LivePage) -> MarkResult:
            return MarkResult(session=session, mark=page.mark().id, url=page.page.url)
        return await self.host.job(lambda: self.apps.get(session, owner).on_page(run))

    async def console_messages(self, session: SessionId, since: Since = None,
                               level: Annotated[Level, Field(
                                   description="lowest level kept")] = "debug",
                               limit: Limit = 100,
                               ctx: Context | None = None) -> ConsoleMessages:
        owner = client_of(ctx)

        def run(page: LivePage) -> ConsoleMessages:
            mark = page.marks.resolve(since)
            entries = console_entries(page.browser_since(mark), page.marks.opened, level)
            return ConsoleMessages(session=session, since=mark.id, entries=entries[:limit],
                                   total=len(entries), truncated=len(entries) > limit)
        return await self.host.job(lambda: self.apps.get(session, owner).on_page(run))

    async def page_errors(self, session: SessionId, since: Since = None, limit: Limit = 50,
                          ctx: Context | None = None) -> PageErrors:
        owner = client_of(ctx)

        def run(page: LivePage) -> PageErrors:
            mark = page.marks.resolve(since)
            entries = page_error_entries(page.browser_since(mark), page.marks.opened)
            return PageErrors(session=session, since=mark.id, entries=entries[:limit],
                              total=len(entries), truncated=len(entries) > limit)
        return await self.host.job(lambda: self.apps.get(session, owner).on_page(run))

    async def network_requests(self, session: SessionId, since: Since = None,
                               failed_only: Annotated[bool, Field(
                                   description="only status >= 400 or no response")] = False,
                               limit: Limit = 100,
                               ctx: Context | None = None) -> NetworkRequests:
        owner = client_of(ctx)

        def work() -> NetworkRequests:
            app = self.apps.get(session, owner)
            spans = span_counts(app.telemetry().get("otlp:spans", {}))

            def run(page: LivePage) -> NetworkRequests:
                mark = page.marks.resolve(since)
                entries = request_entries(page.browser_since(mark), page.marks.opened, spans,
                                          failed_only)
                return NetworkRequests(session=session, since=mark.id, entries=entries[:limit],
                                       total=len(entries), truncated=len(entries) > limit)
            return app.on_page(run)
        return await self.host.job(work)

    async def backend_telemetry(self, session: SessionId, since: Since = None,
                                trace_id: Annotated[str | None, Field(
                                    description="keep this trace only (32 hex characters, as "
                                                "network_requests gives it)")] = None,
                                limit: Limit = 50,
                                wait: Annotated[bool, Field(
                                    description="first wait (at most 2 s) for the app's "
                                                "exports to be quiet")] = True,
                                ctx: Context | None = None) -> BackendTelemetry:
        owner = client_of(ctx)
        chosen = START if since is None and trace_id else since
        trace = trace_id.strip().lower() if trace_id else None

        def work() -> BackendTelemetry:
            app = self.apps.get(session, owner)
            waited = app.settle_telemetry() if wait else 0.0

            def marks_and_requests(page: LivePage) -> tuple[Mark, Mark, dict[str, RequestRef]]:
                requests = {r["trace_id"]: RequestRef(method=r.get("method"), url=r.get("url"),
                                                      status=r.get("status"))
                            for r in page.requests_by_trace()}
                return page.marks.resolve(chosen), page.marks.opened, requests

            mark, start, requests = app.on_page(marks_and_requests)
            found = backend(app.telemetry(mark.telemetry), mark, start, trace, requests, limit)
            return BackendTelemetry(session=session, since=mark.id, trace_id=trace,
                                    spans=found.spans, logs=found.logs, metrics=found.metrics,
                                    totals=found.totals, truncated=found.truncated,
                                    waited_ms=waited)
        return await self.host.job(work)
