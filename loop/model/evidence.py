"""Evidence: the telemetry rows behind a failure, small enough to print. The one place that
says what the slowest spans, the error logs, the console errors and the failed requests are.

Table level (DataFrames of the run tables; the run summary's check evidence, the agent's
evidence bundle and the HTML report all use these):
    slowest_spans   spans by duration, longest first
    span_stats      per span name: n, p50, p95, max, errors; by p95
    error_logs      log lines of level error or critical
    log_groups      lines grouped by (level, message), most frequent first (ties: first seen);
                    a line seen both via OTLP and the process's output counts once
    console_errors  uncaught exceptions and console errors (warnings too, when asked)
    console_groups  those grouped by (kind, text, location), most frequent first
    failed_requests browser requests answered >= 400, or that failed
Check level (`evidence_for`): the evidence of one failing check, as written in verdict.json:
for spans the slowest matching spans with their trace ids; for logs the most frequent
matching lines; for the browser console and page errors with their locations and failed
requests. Text is truncated, never interpreted.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from cleanloop.loop.model.checks import SliRef
from cleanloop.loop.model.run_data import RunData

MAX_ITEMS = 5
MAX_TEXT = 300
ERROR_LEVELS = ("error", "critical")


def _clip(text: object) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


def evidence_for(ref: SliRef, runs: list[RunData]) -> dict[str, Any]:
    root = ref.root
    if root in ("span", "spans"):
        return _span_evidence(ref, runs)
    if root == "logs":
        return _log_evidence(ref, runs)
    if root in ("console", "page", "requests", "request", "vitals"):
        return browser_evidence(runs)
    if root == "app":
        return {"startup_ms": [r.startup_ms for r in runs]}
    return {}


def slowest_spans(spans: pd.DataFrame, n: int) -> pd.DataFrame:
    """The `n` longest spans, longest first."""
    if spans.empty or "duration_ms" not in spans:
        return spans.head(0)
    return spans.sort_values("duration_ms", ascending=False).head(n)


def span_stats(spans: pd.DataFrame) -> pd.DataFrame:
    """Per span name (the index): n, p50, p95 (linear interpolation), max and errors (spans of
    status ERROR), highest p95 first."""
    if spans.empty or "duration_ms" not in spans:
        return pd.DataFrame(columns=["n", "p50", "p95", "max", "errors"]).rename_axis("name")
    df = spans.assign(_error=(spans["status"] == "ERROR").astype(int))
    return (df.groupby("name").agg(n=("duration_ms", "size"), p50=("duration_ms", "median"),
                                   p95=("duration_ms", lambda x: x.quantile(0.95)),
                                   max=("duration_ms", "max"), errors=("_error", "sum"))
            .sort_values("p95", ascending=False, kind="stable"))


def error_logs(logs: pd.DataFrame) -> pd.DataFrame:
    """The log lines of level error or critical, in table order."""
    if logs.empty or "level" not in logs:
        return logs.head(0)
    return logs[logs["level"].isin(ERROR_LEVELS)]


def log_groups(logs: pd.DataFrame) -> pd.DataFrame:
    """Lines grouped by (level, message): columns level, message, count, trace_id (one of
    the group's, '' when none), first_ns; most frequent first, ties in order of first sight.
    A line the app sent via OTLP and also wrote to stdout/stderr counts once: per group the
    count is the larger of the OTLP count and the process-output count."""
    columns = ["level", "message", "count", "trace_id", "first_ns"]
    if logs.empty or "level" not in logs:
        return pd.DataFrame(columns=columns)
    df = logs.fillna({"trace_id": "", "source": "", "message": ""})
    df = df.assign(_otlp=(df["source"] == "otlp"))
    per_channel = df.groupby(["level", "message", "_otlp"], sort=False).agg(
        count=("message", "size"), trace_id=("trace_id", "max"), first_ns=("ts_ns", "min"))
    top = (per_channel.groupby(level=["level", "message"], sort=False)
           .agg(count=("count", "max"), trace_id=("trace_id", "max"),
                first_ns=("first_ns", "min"))
           .sort_values(["count", "first_ns"], ascending=[False, True], kind="stable"))
    return top.reset_index()[columns]


def console_errors(browser: pd.DataFrame, *, warnings: bool = False) -> pd.DataFrame:
    """Uncaught exceptions (pageerror) and console messages of level error (and warning when
    `warnings`), in table order."""
    if browser.empty or "kind" not in browser:
        return browser.head(0)
    levels = ["error", "warning"] if warnings else ["error"]
    return browser[(browser["kind"] == "pageerror")
                   | ((browser["kind"] == "console") & browser["level"].isin(levels))]


def console_groups(browser: pd.DataFrame) -> pd.DataFrame:
    """Console errors grouped by (kind, text, location): columns kind, text, location, count,
    stack (the first); most frequent first, ties in order of first sight."""
    df = console_errors(browser).fillna({"text": "", "location": "", "stack": ""})
    if df.empty:
        return pd.DataFrame(columns=["kind", "text", "location", "count", "stack"])
    return (df.groupby(["kind", "text", "location"], sort=False)
            .agg(count=("text", "size"), stack=("stack", "first"))
            .sort_values("count", ascending=False, kind="stable").reset_index())


def failed_requests(browser: pd.DataFrame) -> pd.DataFrame:
    """Browser requests answered with a status >= 400, and requests that failed, in order."""
    if browser.empty or "kind" not in browser:
        return browser.head(0)
    return browser[((browser["kind"] == "request") & (browser["status"].fillna(0) >= 400))
                   | (browser["kind"] == "requestfailed")]


def _span_evidence(ref: SliRef, runs: list[RunData]) -> dict[str, Any]:
    from cleanloop.loop.model.sli_telemetry import matching_spans

    frames = [matching_spans(r, ref) for r in runs]
    df = pd.concat(frames) if frames else pd.DataFrame()
    if df.empty:
        return {"matching_spans": 0}
    slow = slowest_spans(df, MAX_ITEMS)
    return {
        "matching_spans": int(len(df)),
        "slowest": [{"name": r.name, "duration_ms": round(float(r.duration_ms), 3),
                     "trace_id": r.trace_id, "status": r.status}
                    for r in slow.itertuples()],
        "errors": int((df["status"] == "ERROR").sum()),
    }


def _log_evidence(ref: SliRef, runs: list[RunData]) -> dict[str, Any]:
    from cleanloop.loop.model.sli_telemetry import matching_logs

    frames = [matching_logs(r, ref) for r in runs]
    df = pd.concat(frames) if frames else pd.DataFrame()
    if df.empty:
        return {"matching_lines": 0}
    top = log_groups(df).head(MAX_ITEMS)
    return {"matching_lines": int(top["count"].sum()),
            "top": [{"level": r.level, "message": _clip(r.message), "count": int(r.count),
                     "trace_id": r.trace_id or ""} for r in top.itertuples()]}


def browser_evidence(runs: list[RunData]) -> dict[str, Any]:
    frames = [r.frame("browser") for r in runs]
    df = pd.concat(frames) if frames else pd.DataFrame()
    if df.empty:
        return {}
    out: dict[str, Any] = {}
    console = console_errors(df)
    if not console.empty:
        out["console_errors"] = [{"text": _clip(("Uncaught " if r.kind == "pageerror" else "")
                                                + str(r.text)), "location": r.location or ""}
                                 for r in console.head(MAX_ITEMS).itertuples()]
    page = df[df["kind"] == "pageerror"]
    if not page.empty:
        out["page_errors"] = [{"text": _clip(r.text), "location": r.location or "",
                               "stack": _clip(r.stack)} for r in page.head(MAX_ITEMS).itertuples()]
    failed = failed_requests(df)
    if not failed.empty:
        spans = pd.concat([r.frame("spans") for r in runs])
        steps = {(run.repeat, s.index): s.name for run in runs for s in run.steps}
        out["failed_requests"] = [
            {"method": r.method or "", "url": r.url or "",
             "status": None if pd.isna(r.status) else int(r.status),
             "failure": _clip(r.text) if r.kind == "requestfailed" else "",
             "trace_id": r.trace_id or "",
             "step": "" if pd.isna(r.step) else
             f"step #{int(r.step)} ({steps.get((_repeat(r), int(r.step)), '?')})",
             "backend": _backend_cause(spans, r.trace_id)}
            for r in failed.head(MAX_ITEMS).itertuples()]
    return out


def _repeat(row: Any) -> int:
    value = getattr(row, "repeat", 0)
    return 0 if value is None or pd.isna(value) else int(value)


def _backend_cause(spans: pd.DataFrame, trace_id: object) -> str:
    """'span POST /api/checkout ERROR: ZeroDivisionError: ...' for a browser request's trace."""
    if not trace_id or spans.empty:
        return ""
    trace = spans[spans["trace_id"] == trace_id]
    if trace.empty:
        return ""
    errors = trace[trace["status"] == "ERROR"]
    span = (errors if not errors.empty else trace).sort_values("start_ns").iloc[-1 if not
                                                                             errors.empty else 0]
    cause = f"span {span['name']} {span['status']}"
    for event in _events(span["events"]):
        if event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            return f"{cause}: {attrs.get('exception.type', '')}: " \
                   f"{_clip(attrs.get('exception.message', ''))}"
    if span["status_message"]:
        cause += f": {_clip(span['status_message'])}"
    return cause


def _events(raw: object) -> list[dict[str, Any]]:
    try:
        events = json.loads(str(raw)) if raw else []
    except ValueError:
        return []
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
