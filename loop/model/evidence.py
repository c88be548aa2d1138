"""Evidence for a check: the rows behind an SLI value, small enough to print.

For spans, the slowest matching spans with their trace ids; for logs, the most
frequent matching lines; for the browser, console and page errors with their
source locations and failed requests. Text is truncated, never interpreted.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from cleanloop.loop.model.checks import SliRef
from cleanloop.loop.model.run_data import RunData

MAX_ITEMS = 5
MAX_TEXT = 300


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


def _span_evidence(ref: SliRef, runs: list[RunData]) -> dict[str, Any]:
    from cleanloop.loop.model.sli_telemetry import matching_spans

    frames = [matching_spans(r, ref) for r in runs]
    df = pd.concat(frames) if frames else pd.DataFrame()
    if df.empty:
        return {"matching_spans": 0}
    slow = df.sort_values("duration_ms", ascending=False).head(MAX_ITEMS)
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
    df = df.assign(_channel=(df["source"] == "otlp"))
    per_channel = df.groupby(["level", "message", "_channel"]).agg(
        count=("message", "size"), trace_id=("trace_id", "max"))
    top = (per_channel.groupby(level=["level", "message"]).agg(count=("count", "max"),
                                                                trace_id=("trace_id", "max"))
           .sort_values("count", ascending=False).head(MAX_ITEMS))
    return {"matching_lines": int(top["count"].sum()),
            "top": [{"level": lvl, "message": _clip(msg), "count": int(row["count"]),
                     "trace_id": row["trace_id"] or ""} for (lvl, msg), row in top.iterrows()]}


def browser_evidence(runs: list[RunData]) -> dict[str, Any]:
    frames = [r.frame("browser") for r in runs]
    df = pd.concat(frames) if frames else pd.DataFrame()
    if df.empty:
        return {}
    out: dict[str, Any] = {}
    console = df[df["kind"].isin(["console", "pageerror"]) & (df["level"] == "error")]
    if not console.empty:
        out["console_errors"] = [{"text": _clip(("Uncaught " if r.kind == "pageerror" else "")
                                                + str(r.text)), "location": r.location or ""}
                                 for r in console.head(MAX_ITEMS).itertuples()]
    page = df[df["kind"] == "pageerror"]
    if not page.empty:
        out["page_errors"] = [{"text": _clip(r.text), "location": r.location or "",
                               "stack": _clip(r.stack)} for r in page.head(MAX_ITEMS).itertuples()]
    failed = df[((df["kind"] == "request") & (df["status"].fillna(0) >= 400))
                | (df["kind"] == "requestfailed")]
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
