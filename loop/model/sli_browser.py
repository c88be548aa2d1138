"""Browser SLIs over the `browser` table (cleanloop.probes.browser_recorder) and the step results.

    console.errors   console.warnings   console(level >= warning).count
    console("checkout*", url ~ "/cart").count     console(location ~ "controller").count
                     (uncaught exceptions are console entries of level error, as DevTools
                     shows them, at the throwing frame: url and location name its script)
    page.errors                                   uncaught page errors (and page crashes)
    requests.count   requests(status >= 400).count   requests.errors   requests.failed
    request("/api/cart").duration.p95 | .p50 | .mean | .max | .count | .errors | .size.max
    vitals.lcp | .fcp | .cls | .inp | .tbt        worst (max) value over the run's documents
    vitals("/checkout").lcp                       only documents whose URL path matches
    navigation.ttfb | .dom_content_loaded | .load | .dom_interactive     (max, ms)
    cdp("JSHeapUsedSize").last | .max | .min | .mean | .delta            (CDP units)
    step("add-to-cart").duration | .ok | .failed  (every step kind, from the StepResults)

Durations are milliseconds; CLS is unitless. Console levels rank debug < log = info <
warning < error (DevTools puts log and info on one level). A request that got no response
(`requestfailed`: refused, DNS, aborted) has no status; in a status filter it counts as
status 600, i.e. worse than any HTTP error: it matches `status >= 400` and `status != 200`
but not `status == 500`. Name patterns with * ? [ are globs, otherwise substrings; a
request pattern matches the URL path (or the whole URL when it contains "://"), and may
start with a method: request("POST /api/checkout").

No data is None, never 0, so it never passes a check. A run without any browser row (no
browser step ran, or the browser recorded nothing) has no data for console, page and
requests. In a run with browser data a count over a selection that matched nothing is 0
(no console error, no failing request), but request("/typo").errors and .failed over no
matched request are None, as are the aggregates (.duration.p95 ...) over no request.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import pandas as pd

from cleanloop.loop.model.checks import Filter, SliRef
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.sli import SliRegistry, aggregate, apply_filter
from cleanloop.loop.model.sli_grammar import (
    CDP_AGGS,
    CONSOLE_RANK,
    NAVIGATION,
    TEXT_FIELDS,
    VITALS,
    allowed_filter,
    browser_pattern,
    request_path,
    tail_name,
)

FAILED_STATUS = 600.0
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_LOCATION = re.compile(r"^(.*):\d+:\d+$")


def _matches(value: object, pattern: str) -> bool:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    if pattern == "*":
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(text, pattern)
    return pattern in text


def _where(df: pd.DataFrame, column: str, keep: Callable[[object], bool]) -> pd.DataFrame:
    """Rows whose `column` value passes `keep` (a boolean mask even when df is empty)."""
    return df[df[column].map(keep).astype(bool)]


def _kind(run: RunData, *kinds: str) -> pd.DataFrame:
    df = run.frame("browser")
    return df[df["kind"].isin(kinds)]


def _filtered(df: pd.DataFrame, filters: Sequence[Filter], ref: SliRef,
              allowed: Sequence[str]) -> pd.DataFrame:
    for flt in filters:
        allowed_filter(ref, flt, allowed)
        if flt.field == "level":
            df = apply_filter(df, flt, df["level"], rank=CONSOLE_RANK)
        elif flt.field == "status":
            status = pd.to_numeric(df["status"], errors="coerce").astype(float)
            status = status.where(df["kind"] != "requestfailed", FAILED_STATUS)
            df = apply_filter(df, flt, status)
        else:
            df = apply_filter(df, flt, df[flt.field])
    return df


def _no_browser_data(run: RunData) -> bool:
    return bool(run.frame("browser").empty)


def _location_url(location: object) -> object:
    """The script URL of a `url:line:col` location (None when there is none)."""
    match = _LOCATION.match(location) if isinstance(location, str) else None
    return match.group(1) if match else None


def console_rows(run: RunData) -> pd.DataFrame:
    """The console as DevTools shows it: console.* calls, failed resource loads, and uncaught
    exceptions ("Uncaught TypeError: ...") as entries of level error at the throwing frame:
    their url is that frame's script (the page's URL when the stack names none) and their
    location its `url:line:col`, so narrowing by level, url or location keeps them."""
    messages = _kind(run, "console")
    thrown = _kind(run, "pageerror")
    if thrown.empty:
        return messages
    frame_url = thrown["location"].map(_location_url)
    thrown = thrown.assign(level="error", url=frame_url.where(frame_url.notna(), thrown["url"]))
    return thrown if messages.empty else pd.concat([messages, thrown])


def console_sli(run: RunData, ref: SliRef) -> float | None:
    what = tail_name(ref, ("errors", "warnings", "count"))
    pattern = browser_pattern(ref, "text pattern")
    df = _filtered(console_rows(run), ref.segments[0].filters, ref, ("level", *TEXT_FIELDS))
    if _no_browser_data(run):
        return None
    df = _where(df, "text", lambda v: _matches(v, pattern))
    if what == "errors":
        df = df[df["level"] == "error"]
    elif what == "warnings":
        df = df[df["level"] == "warning"]
    return float(len(df))


def page_sli(run: RunData, ref: SliRef) -> float | None:
    tail_name(ref, ("errors",))
    pattern = browser_pattern(ref, "text pattern")
    df = _filtered(_kind(run, "pageerror"), ref.segments[0].filters, ref, TEXT_FIELDS)
    if _no_browser_data(run):
        return None
    return float(len(_where(df, "text", lambda v: _matches(v, pattern))))


def _request_rows(run: RunData, ref: SliRef) -> pd.DataFrame:
    pattern = browser_pattern(ref, "URL pattern")
    method, _, rest = pattern.partition(" ")
    df = _kind(run, "request", "requestfailed")
    if rest and method.upper() in HTTP_METHODS:
        df = df[df["method"].astype(str).str.upper() == method.upper()]
        pattern = rest.strip()
    if pattern != "*":
        full = "://" in pattern
        df = _where(df, "url", lambda u: _matches(u if full else urlsplit(str(u)).path,
                                                  pattern))
    return _filtered(df, ref.segments[0].filters, ref, ("status", *TEXT_FIELDS))


def _request_value(df: pd.DataFrame, ref: SliRef) -> float | None:
    column, how = request_path(ref)
    if not column:  # count, errors or failed
        if how == "count":
            return float(len(df))
        if df.empty:  # errors among no matched request: no data, never a clean 0
            return None
        failed = df["kind"] == "requestfailed"
        if how == "failed":
            return float(failed.sum())
        status = pd.to_numeric(df["status"], errors="coerce")
        return float((failed | (status >= 400)).sum())
    values = pd.to_numeric(df.loc[df["kind"] == "request", column], errors="coerce")
    return aggregate(values.astype(float), how)


def requests_sli(run: RunData, ref: SliRef) -> float | None:
    value = _request_value(_request_rows(run, ref), ref)
    return None if _no_browser_data(run) else value


def _worst(df: pd.DataFrame, ref: SliRef, names: dict[str, str]) -> float | None:
    what = tail_name(ref, tuple(names))
    pattern = browser_pattern(ref, "URL pattern")
    df = df[df["name"] == names[what]]
    if pattern != "*":
        df = _where(df, "url", lambda u: _matches(urlsplit(str(u)).path, pattern))
    return aggregate(pd.to_numeric(df["value"], errors="coerce").astype(float), "max")


def vitals_sli(run: RunData, ref: SliRef) -> float | None:
    return _worst(_kind(run, "vital"), ref, VITALS)


def navigation_sli(run: RunData, ref: SliRef) -> float | None:
    return _worst(_kind(run, "navigation"), ref, NAVIGATION)


def cdp_sli(run: RunData, ref: SliRef) -> float | None:
    what = tail_name(ref, CDP_AGGS)
    name = browser_pattern(ref, "CDP metric name")
    if name == "*":
        raise ValueError(f"{ref.text}: name a metric, e.g. cdp(\"JSHeapUsedSize\").max")
    df = _kind(run, "cdp_metrics")
    df = df[df["name"] == name].sort_values("ts_ns", kind="stable")
    values = pd.to_numeric(df["value"], errors="coerce").dropna().astype(float)
    if values.empty:
        return None
    if what in ("last", "first", "delta"):
        first, last = float(values.iloc[0]), float(values.iloc[-1])
        return {"first": first, "last": last, "delta": last - first}[what]
    return aggregate(values, what)


def step_sli(run: RunData, ref: SliRef) -> float | None:
    what = tail_name(ref, ("duration", "ok", "failed"))
    pattern = browser_pattern(ref, "step name")
    chosen = [s for s in run.steps if pattern == "*" or fnmatch.fnmatchcase(s.name, pattern)]
    if chosen:
        durations, oks = [s.duration_ms for s in chosen], [s.ok for s in chosen]
    else:  # a run read back from its tables: the browser's own step rows
        df = _kind(run, "step")
        df = _where(df, "text", lambda v: pattern == "*" or fnmatch.fnmatchcase(str(v), pattern))
        if df.empty:
            return None
        durations = [float(v) for v in df["duration_ms"]]
        oks = [_attribute_ok(a) for a in df["attributes"]]
    if what == "duration":
        return float(sum(durations))
    if what == "ok":
        return 1.0 if all(oks) else 0.0
    return float(sum(1 for ok in oks if not ok))


def _attribute_ok(raw: object) -> bool:
    try:
        return bool(json.loads(str(raw)).get("ok", False))
    except (ValueError, AttributeError):
        return False


def register(registry: SliRegistry) -> None:
    registry.add("console", console_sli)
    registry.add("page", page_sli)
    registry.add("requests", requests_sli)
    registry.add("request", requests_sli)
    registry.add("vitals", vitals_sli)
    registry.add("navigation", navigation_sli)
    registry.add("cdp", cdp_sli)
    registry.add("step", step_sli)
