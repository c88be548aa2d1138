"""OTLP export request bodies (protobuf or JSON) decoded into table columns.

Pure functions, one per signal: `decode_traces`, `decode_logs`, `decode_metrics`
take the raw (already decompressed) body and its Content-Type, and return
`Columns` shaped like `cleanloop.loop.base.schema` (spans, logs, metrics; no `repeat`).
Malformed input raises `DecodeError`.

Decoding is columnar: one list per column, filled while walking the messages.
The span walk is the hot path of the receiver (see bench/ingest.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from cleanloop.collectors.otlp_json import parse_json_request
from cleanloop.collectors.otlp_metrics import metrics_columns
from cleanloop.collectors.otlp_values import (
    DecodeError,
    attrs_dict,
    attrs_json,
    service_name,
    value_text,
)
from cleanloop.loop.base.schema import Columns, level_from_severity, normalise_level

__all__ = [
    "DecodeError", "decode_logs", "decode_metrics", "decode_traces", "payload_format",
    "spans_columns", "logs_columns",
]

M = TypeVar("M", bound=Message)

PROTOBUF = "protobuf"
JSON = "json"

#: Span.SpanKind numbers to names without the SPAN_KIND_ prefix.
SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
#: Status.StatusCode numbers to names without the STATUS_CODE_ prefix.
STATUS_CODES = ("UNSET", "OK", "ERROR")

_FORMATS = {
    "application/x-protobuf": PROTOBUF,
    "application/protobuf": PROTOBUF,
    "application/json": JSON,
}


def payload_format(content_type: str) -> str | None:
    """The payload format of a Content-Type: "protobuf", "json", or None (not OTLP/HTTP)."""
    return _FORMATS.get(content_type.split(";", 1)[0].strip().lower())


def _parse(body: bytes, content_type: str, message: M) -> M:
    fmt = payload_format(content_type)
    if fmt == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"invalid protobuf {type(message).__name__}: {exc}") from exc
        return message
    if fmt == JSON:
        return parse_json_request(body, message)
    raise DecodeError(f"unsupported Content-Type {content_type!r}")


def decode_traces(body: bytes, content_type: str) -> Columns:
    """An ExportTraceServiceRequest body as `spans` columns."""
    return spans_columns(_parse(body, content_type, ExportTraceServiceRequest()))


def decode_logs(body: bytes, content_type: str) -> Columns:
    """An ExportLogsServiceRequest body as `logs` columns."""
    return logs_columns(_parse(body, content_type, ExportLogsServiceRequest()))


def decode_metrics(body: bytes, content_type: str) -> Columns:
    """An ExportMetricsServiceRequest body as `metrics` columns (Prometheus-shaped rows)."""
    return metrics_columns(_parse(body, content_type, ExportMetricsServiceRequest()))


def _events_json(events: Iterable[Span.Event]) -> str:
    return json.dumps(
        [
            {"name": e.name, "ts_ns": e.time_unix_nano, "attributes": attrs_dict(e.attributes)}
            for e in events
        ],
        separators=(",", ":"),
    )


def spans_columns(request: ExportTraceServiceRequest) -> Columns:
    """Walk the spans once, appending to one list per column (the receiver's hot path)."""
    trace_id: list[str] = []
    span_id: list[str] = []
    parent: list[str] = []
    name: list[str] = []
    kind: list[str] = []
    service: list[str] = []
    start: list[int] = []
    end: list[int] = []
    duration: list[float] = []
    status: list[str] = []
    status_msg: list[str] = []
    attributes: list[str] = []
    events: list[str] = []
    kinds, codes = SPAN_KINDS, STATUS_CODES
    n_kinds, n_codes = len(kinds), len(codes)
    to_json = attrs_json
    for rs in request.resource_spans:
        svc = service_name(rs.resource)
        for ss in rs.scope_spans:
            spans = ss.spans
            service.extend([svc] * len(spans))
            for s in spans:
                trace_id.append(s.trace_id.hex())
                span_id.append(s.span_id.hex())
                parent.append(s.parent_span_id.hex())
                name.append(s.name)
                k = s.kind
                kind.append(kinds[k] if 0 <= k < n_kinds else "UNSPECIFIED")
                t0 = s.start_time_unix_nano
                t1 = s.end_time_unix_nano
                start.append(t0)
                end.append(t1)
                duration.append((t1 - t0) / 1e6)
                st = s.status
                c = st.code
                status.append(codes[c] if 0 <= c < n_codes else "UNSET")
                status_msg.append(st.message if c else "")  # only meaningful with a code
                attributes.append(to_json(s.attributes))
                ev = s.events
                events.append(_events_json(ev) if ev else "[]")
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
        "kind": kind, "service": service, "start_ns": start, "end_ns": end,
        "duration_ms": duration, "status": status, "status_message": status_msg,
        "attributes": attributes, "events": events,
    }


def _log_level(number: int, text: str) -> str:
    if number > 0:
        return level_from_severity(number)
    if text:
        return normalise_level(text)
    return "info"


def logs_columns(request: ExportLogsServiceRequest) -> Columns:
    """Log records as `logs` rows (source "otlp")."""
    ts: list[int] = []
    level: list[str] = []
    sev: list[int] = []
    message: list[str] = []
    trace_id: list[str] = []
    span_id: list[str] = []
    service: list[str] = []
    attributes: list[str] = []
    for rl in request.resource_logs:
        svc = service_name(rl.resource)
        for sl in rl.scope_logs:
            records = sl.log_records
            service.extend([svc] * len(records))
            for r in records:
                ts.append(r.time_unix_nano or r.observed_time_unix_nano)
                number = int(r.severity_number)
                sev.append(number)
                level.append(_log_level(number, r.severity_text))
                message.append(value_text(r.body))
                trace_id.append(r.trace_id.hex())
                span_id.append(r.span_id.hex())
                attributes.append(attrs_json(r.attributes))
    return {
        "ts_ns": ts, "source": ["otlp"] * len(ts), "level": level, "severity_number": sev,
        "message": message, "trace_id": trace_id, "span_id": span_id, "service": service,
        "attributes": attributes,
    }
