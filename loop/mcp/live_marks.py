"""Marks in a live session, and the browser's rows since one.

A mark is a moment: its wall-clock time and how many rows each source (the browser
recorder, every collector) held then. "Since a mark" means rows that arrived after it and
whose own time (a request's start, a console message, a span's start) is not before it. m0
is the page's opening (times are given as at_ms, milliseconds after it); every action takes
a mark just before it acts; `mark` takes one on demand. 'start' means everything the session
collected, from the app's boot on. An observation without `since` reads from the latest
mark.

The browser rows are those of cleanloop.probes.browser_recorder (the browser table), read
without draining, so the session's tables at stop still hold all of them. Uncaught exceptions
are console entries of level error, as DevTools shows them (and as the console.errors SLI
counts them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.base.schema import Columns
from cleanloop.loop.mcp.live_models import ConsoleEntry, PageErrorEntry, RequestEntry
from cleanloop.loop.model.sli_grammar import CONSOLE_RANK

MAX_STACK = 4000
START = "start"


@dataclass(frozen=True)
class Mark:
    id: str
    wall_ns: int
    browser_rows: int
    telemetry: Mapping[str, int]


class Marks:
    """The marks of one session: m0 (the page's opening), then one per action or `mark`
    call; 'start' (ORIGIN) is before all of them."""

    #: everything the session collected, the app's boot included
    ORIGIN = Mark(START, 0, 0, {})

    def __init__(self) -> None:
        self._marks: dict[str, Mark] = {}
        self.latest: Mark | None = None

    def add(self, wall_ns: int, browser_rows: int, telemetry: Mapping[str, int]) -> Mark:
        mark = Mark(f"m{len(self._marks)}", wall_ns, browser_rows, dict(telemetry))
        self._marks[mark.id] = mark
        self.latest = mark
        return mark

    @property
    def opened(self) -> Mark:
        """m0, the page's opening: the zero of every at_ms."""
        return self._marks["m0"]

    def resolve(self, since: str | None) -> Mark:
        """The mark `since` names ('start', 'mN'); None is the latest."""
        if since is None:
            assert self.latest is not None
            return self.latest
        if since == START:
            return self.ORIGIN
        mark = self._marks.get(since)
        if mark is None:
            raise UsageError(f"no mark {since!r} in this session (marks m0..m"
                             f"{len(self._marks) - 1}, or 'start')")
        return mark


def rows(columns: Columns) -> Iterator[dict[str, Any]]:
    """The rows of a column batch as dicts."""
    names = list(columns)
    for values in zip(*(columns[n] for n in names), strict=True):
        yield dict(zip(names, values, strict=True))


def since(columns: Columns, mark: Mark, time_key: str = "ts_ns") -> list[dict[str, Any]]:
    """The rows whose `time_key` is at or after the mark."""
    return [r for r in rows(columns) if (r.get(time_key) or 0) >= mark.wall_ns]


def at_ms(ts_ns: Any, start: Mark) -> float:
    return round(((ts_ns or 0) - start.wall_ns) / 1e6, 3)


def console_entries(browser: list[dict[str, Any]], start: Mark,
                    min_level: str) -> list[ConsoleEntry]:
    floor = CONSOLE_RANK.get(min_level, 0)
    out = []
    for row in browser:
        if row["kind"] == "console":
            source, level = "console", row.get("level") or "log"
        elif row["kind"] == "pageerror":
            source, level = "exception", "error"
        else:
            continue
        if CONSOLE_RANK.get(level, 1) >= floor:
            location = row.get("location")
            url = _script_url(location) if source == "exception" else None
            out.append(ConsoleEntry(at_ms=at_ms(row["ts_ns"], start), source=source,
                                    level=level, text=row.get("text") or "",
                                    location=location, url=url or row.get("url")))
    return out


def page_error_entries(browser: list[dict[str, Any]], start: Mark) -> list[PageErrorEntry]:
    return [PageErrorEntry(at_ms=at_ms(row["ts_ns"], start), message=row.get("text") or "",
                           location=row.get("location"), stack=_clip(row.get("stack")),
                           url=row.get("url"))
            for row in browser if row["kind"] == "pageerror"]


def request_entries(browser: list[dict[str, Any]], start: Mark, spans: Mapping[str, int],
                    failed_only: bool) -> list[RequestEntry]:
    out = []
    for row in browser:
        if row["kind"] not in ("request", "requestfailed") or (failed_only and not failed(row)):
            continue
        trace_id = row.get("trace_id") or None
        out.append(RequestEntry(
            at_ms=at_ms(row["ts_ns"], start), method=row.get("method"), url=row.get("url"),
            status=row.get("status"),
            failure=row.get("text") if row["kind"] == "requestfailed" else None,
            duration_ms=row.get("duration_ms"), size=row.get("size"),
            resource_type=attributes(row.get("attributes")).get("resource_type"),
            trace_id=trace_id, spans=spans.get(trace_id, 0) if trace_id else 0))
    return out


def failed(row: Mapping[str, Any]) -> bool:
    """A request that got no response or an HTTP error (the requests(status >= 400) SLI)."""
    return row["kind"] == "requestfailed" or (row.get("status") or 0) >= 400


def counts(browser: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(console errors incl. uncaught exceptions, requests, failed requests)."""
    errors = sum(1 for r in browser if r["kind"] == "pageerror"
                 or (r["kind"] == "console" and r.get("level") == "error"))
    requests = [r for r in browser if r["kind"] in ("request", "requestfailed")]
    return errors, len(requests), sum(1 for r in requests if failed(r))


def attributes(text: Any) -> dict[str, Any]:
    """A JSON attributes column as a dict ({} when missing or malformed)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _script_url(location: Any) -> str | None:
    if not isinstance(location, str):
        return None
    head, _, _ = location.rpartition(":")
    url, _, _ = head.rpartition(":")
    return url or None


def _clip(text: Any, limit: int = MAX_STACK) -> str | None:
    if not isinstance(text, str):
        return None
    return text if len(text) <= limit else text[:limit] + "..."
