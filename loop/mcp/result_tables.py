"""The run tables' documented columns, as the `cleanloop://schema/{table}` resources give them.

The column names and types are cleanloop.loop.base.schema's (the run-directory contract, the
one source); this module adds a sentence per column, for an agent writing SQL for the query
tool. A test keeps DESCRIPTIONS and the schema's columns equal.
"""

from __future__ import annotations

from typing import Any

from cleanloop.loop.base import schema

#: what the query tool's DuckDB calls each Arrow type of the run tables
SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE"}
NOTES = ("Timestamps are UTC nanoseconds since the epoch (int64).",
         "attributes, labels and events are JSON strings: use json_extract_string(attributes, "
         "'$.key') in SQL.",
         "Every row has `repeat`, the 0-based repetition of the scenario it came from.",
         "Query a run with the query tool: SELECT ... FROM spans | logs | metrics | browser.")

_REPEAT = "which repetition of the scenario the row came from (0-based)"
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "spans": {
        "trace_id": "trace id, 32 hex chars",
        "span_id": "span id, 16 hex chars",
        "parent_span_id": "the parent's span id; '' for a root span",
        "name": "span name, e.g. 'GET /api/products'",
        "kind": "SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER or UNSPECIFIED",
        "service": "the resource's service.name",
        "start_ns": "start, UTC ns",
        "end_ns": "end, UTC ns",
        "duration_ms": "duration in milliseconds",
        "status": "UNSET, OK or ERROR",
        "status_message": "the status description ('' when none)",
        "attributes": "JSON object of the span's attributes",
        "events": "JSON list of {name, ts_ns, attributes} (exceptions are events named "
                  "'exception')",
        "repeat": _REPEAT,
    },
    "logs": {
        "ts_ns": "time, UTC ns",
        "source": "otlp, stdout or stderr (the app's own output is captured too)",
        "level": "trace, debug, info, warning, error or critical",
        "severity_number": "OTLP severity number (1..24), 0 when unknown",
        "message": "the log line's text",
        "trace_id": "the trace the line was logged in ('' when unknown)",
        "span_id": "the span the line was logged in ('' when unknown)",
        "service": "the resource's service.name",
        "attributes": "JSON object of the record's attributes",
        "repeat": _REPEAT,
    },
    "metrics": {
        "ts_ns": "time of the sample, UTC ns",
        "source": "otlp or prometheus (the scraped /metrics endpoint)",
        "name": "metric family name, e.g. http_request_duration_seconds",
        "sample": "sample name, e.g. ..._bucket, ..._sum, ..._count, or the family name",
        "type": "counter, gauge, histogram, summary or unknown",
        "labels": "JSON object of the labels (without le)",
        "le": "histogram bucket upper bound (cumulative); NaN otherwise",
        "value": "the sample's value",
        "repeat": _REPEAT,
    },
    "browser": {
        "ts_ns": "time, UTC ns",
        "kind": "console, pageerror, request, requestfailed, vital, navigation, cdp_metrics "
                "or step",
        "level": "console level: error, warning, info, log or debug",
        "text": "console text, error message, or step name",
        "url": "request or document URL",
        "method": "HTTP method of a request",
        "status": "HTTP status of a request",
        "duration_ms": "request or step duration in milliseconds",
        "size": "response size in bytes",
        "name": "vital or metric name (LCP, CLS, FCP, JSHeapUsedSize ...)",
        "value": "the vital's or metric's value",
        "location": "source location 'url:line:col'",
        "stack": "stack trace of a page error",
        "trace_id": "joins spans.trace_id (the browser injects a traceparent)",
        "step": "index of the scenario step that produced the row",
        "attributes": "JSON object of further details",
        "repeat": _REPEAT,
    },
}


def table_names() -> tuple[str, ...]:
    return tuple(DESCRIPTIONS)


def table_schema(table: str) -> dict[str, Any]:
    """{table, columns: [{name, type, sql_type, description}], notes} of one run table;
    KeyError for an unknown table."""
    fields = schema.TABLES[table]
    docs = DESCRIPTIONS.get(table, {})
    columns = [{"name": f.name, "type": _arrow_name(str(f.type)),
                "sql_type": SQL_TYPES.get(str(f.type), str(f.type).upper()),
                "description": docs.get(f.name, "")} for f in fields]
    return {"table": table, "columns": columns, "notes": list(NOTES)}


def _arrow_name(arrow: str) -> str:
    return "float64" if arrow == "double" else arrow
