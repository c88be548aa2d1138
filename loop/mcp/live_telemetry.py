"""What the app sent while a live session runs: spans, logs and metrics since a mark.

The rows come from the session's collectors without draining them (AppUnderTest.peek_telemetry):
OTLP spans, logs and metrics, the process's stdout/stderr lines, Prometheus samples. Spans are
joined by trace id to the page's request that started them (the recorder injects a W3C
traceparent into every request to the app's origin, so the app's server span continues the
browser's trace). Metrics are summarised per series: the latest value since the mark and how
many points arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cleanloop.loop.base.schema import Columns
from cleanloop.loop.mcp.live_marks import Mark, at_ms, attributes, since
from cleanloop.loop.mcp.live_models import LogEntry, MetricSeries, RequestRef, SpanEntry

MAX_VALUE_CHARS = 1000
LOG_SOURCES = ("otlp:logs", "process:logs")
METRIC_SOURCES = ("otlp:metrics", "prometheus:metrics")


@dataclass(frozen=True)
class Backend:
    spans: list[SpanEntry]
    logs: list[LogEntry]
    metrics: list[MetricSeries]
    totals: dict[str, int]
    truncated: bool


def span_counts(spans: Columns) -> Counter[str]:
    """Spans received per trace id."""
    return Counter(t for t in spans.get("trace_id", []) if t)


def backend(peeked: Mapping[str, Columns], mark: Mark, start: Mark, trace_id: str | None,
            requests: Mapping[str, RequestRef], limit: int) -> Backend:
    """Spans, logs and metric series since `mark` (only trace `trace_id`'s spans and logs when
    given; metrics carry no trace id and are then left out), at most `limit` of each."""
    span_rows = since(peeked.get("otlp:spans", {}), mark, "start_ns")
    log_rows = [r for key in LOG_SOURCES for r in since(peeked.get(key, {}), mark)]
    if trace_id:
        span_rows = [r for r in span_rows if r.get("trace_id") == trace_id]
        log_rows = [r for r in log_rows if r.get("trace_id") == trace_id]
        metric_rows: list[dict[str, Any]] = []
    else:
        metric_rows = [r for key in METRIC_SOURCES for r in since(peeked.get(key, {}), mark)]
    span_rows.sort(key=lambda r: r.get("start_ns") or 0)
    log_rows.sort(key=lambda r: r.get("ts_ns") or 0)
    series = _series(metric_rows, start)
    totals = {"spans": len(span_rows), "logs": len(log_rows), "metrics": len(series)}
    return Backend(
        spans=[_span(r, start, requests) for r in span_rows[:limit]],
        logs=[_log(r, start) for r in log_rows[:limit]],
        metrics=series[:limit], totals=totals,
        truncated=any(n > limit for n in totals.values()))


def _span(row: dict[str, Any], start: Mark, requests: Mapping[str, RequestRef]) -> SpanEntry:
    trace_id = str(row.get("trace_id") or "")
    return SpanEntry(
        trace_id=trace_id, span_id=str(row.get("span_id") or ""),
        parent_span_id=str(row.get("parent_span_id") or ""), name=str(row.get("name") or ""),
        kind=row.get("kind"), service=row.get("service"), at_ms=at_ms(row.get("start_ns"), start),
        duration_ms=row.get("duration_ms"), status=row.get("status"),
        status_message=row.get("status_message") or None,
        attributes=_clipped(attributes(row.get("attributes"))), request=requests.get(trace_id))


def _log(row: dict[str, Any], start: Mark) -> LogEntry:
    return LogEntry(at_ms=at_ms(row.get("ts_ns"), start), source=row.get("source"),
                    level=row.get("level"), message=_clip(str(row.get("message") or "")),
                    trace_id=row.get("trace_id") or None, span_id=row.get("span_id") or None,
                    attributes=_clipped(attributes(row.get("attributes"))))


def _series(metric_rows: list[dict[str, Any]], start: Mark) -> list[MetricSeries]:
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    points: Counter[tuple[Any, ...]] = Counter()
    for row in metric_rows:
        le = row.get("le")
        if le is not None and le == le:  # histogram buckets: the _sum/_count samples suffice
            continue
        key = (row.get("source"), row.get("name"), row.get("sample"), row.get("labels"))
        points[key] += 1
        if key not in latest or (row.get("ts_ns") or 0) >= (latest[key].get("ts_ns") or 0):
            latest[key] = row
    out = [MetricSeries(name=str(r.get("name") or ""), sample=r.get("sample"), type=r.get("type"),
                        labels=_clipped(attributes(r.get("labels"))), value=_finite(r.get("value")),
                        points=points[key], source=r.get("source"),
                        at_ms=at_ms(r.get("ts_ns"), start))
           for key, r in latest.items()]
    out.sort(key=lambda m: (m.name, m.sample or "", str(m.labels)))
    return out


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _clipped(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _clip(v) if isinstance(v, str) else v for k, v in values.items()}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."
