"""Documented columns of the run tables (the run-directory contract).

Timestamps are UTC nanoseconds (int64). Attributes are JSON strings.
Every collector emits column batches whose keys are a subset of these.
"""

from __future__ import annotations

import pyarrow as pa

SPANS = pa.schema([
    ("trace_id", pa.string()),        # 32 hex chars
    ("span_id", pa.string()),         # 16 hex chars
    ("parent_span_id", pa.string()),  # "" for a root span
    ("name", pa.string()),
    ("kind", pa.string()),            # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER, UNSPECIFIED
    ("service", pa.string()),         # resource service.name
    ("start_ns", pa.int64()),
    ("end_ns", pa.int64()),
    ("duration_ms", pa.float64()),
    ("status", pa.string()),          # UNSET, OK, ERROR
    ("status_message", pa.string()),
    ("attributes", pa.string()),      # JSON object
    ("events", pa.string()),          # JSON list of {name, ts_ns, attributes}
    ("repeat", pa.int32()),           # which repetition of the scenario (0-based)
])

LOGS = pa.schema([
    ("ts_ns", pa.int64()),
    ("source", pa.string()),          # otlp | stdout | stderr
    ("level", pa.string()),           # trace, debug, info, warning, error, critical
    ("severity_number", pa.int32()),  # OTLP severity number (1..24), 0 when unknown
    ("message", pa.string()),
    ("trace_id", pa.string()),        # "" when unknown
    ("span_id", pa.string()),
    ("service", pa.string()),
    ("attributes", pa.string()),      # JSON object
    ("repeat", pa.int32()),
])

METRICS = pa.schema([
    ("ts_ns", pa.int64()),
    ("source", pa.string()),          # otlp | prometheus
    ("name", pa.string()),            # metric family name, e.g. http_request_duration_seconds
    ("sample", pa.string()),          # sample name, e.g. ..._bucket, ..._sum, ..._count, or = name
    ("type", pa.string()),            # counter, gauge, histogram, summary, unknown
    ("labels", pa.string()),          # JSON object (without "le")
    ("le", pa.float64()),             # histogram bucket upper bound (cumulative); NaN otherwise
    ("value", pa.float64()),
    ("repeat", pa.int32()),
])

BROWSER = pa.schema([
    ("ts_ns", pa.int64()),
    ("kind", pa.string()),            # console, pageerror, request, requestfailed, vital,
                                      # navigation, cdp_metrics, step
    ("level", pa.string()),           # console level (error, warning, info, log, debug)
    ("text", pa.string()),            # console text / error message / step name
    ("url", pa.string()),
    ("method", pa.string()),
    ("status", pa.int32()),
    ("duration_ms", pa.float64()),
    ("size", pa.int64()),
    ("name", pa.string()),            # vital or metric name (LCP, CLS, FCP, JSHeapUsedSize ...)
    ("value", pa.float64()),
    ("location", pa.string()),        # source "url:line:col"
    ("stack", pa.string()),
    ("trace_id", pa.string()),        # joined with spans.trace_id via injected traceparent
    ("step", pa.int32()),             # index of the scenario step that produced it
    ("attributes", pa.string()),      # JSON object
    ("repeat", pa.int32()),
])

TABLES: dict[str, pa.Schema] = {
    "spans": SPANS,
    "logs": LOGS,
    "metrics": METRICS,
    "browser": BROWSER,
}

LEVELS = ("trace", "debug", "info", "warning", "error", "critical")
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}


def level_from_severity(number: int) -> str:
    """OTLP severity number (1..24) to a level name."""
    if number <= 0:
        return "info"
    return LEVELS[min((number - 1) // 4, 5)]


def normalise_level(text: str) -> str:
    """Map a free-form level word (WARN, err, FATAL ...) to one of LEVELS."""
    t = text.strip().lower()
    if t.startswith("warn"):
        return "warning"
    if t in ("err", "error", "severe"):
        return "error"
    if t in ("fatal", "critical", "crit", "panic", "emerg", "alert"):
        return "critical"
    if t in ("debug", "trace", "info"):
        return t
    if t in ("notice", "information"):
        return "info"
    return "info"
