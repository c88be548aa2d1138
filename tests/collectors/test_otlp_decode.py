"""Pure decoding of OTLP bodies (protobuf and JSON) into table columns."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from cleanloop.collectors.otlp_decode import (
    DecodeError,
    decode_logs,
    decode_metrics,
    decode_traces,
    payload_format,
)
from cleanloop.loop.base.schema import LOGS, METRICS, SPANS

PB = "application/x-protobuf"
JS = "application/json; charset=utf-8"


def _kv(key: str, value: Any) -> KeyValue:
    kv = KeyValue(key=key)
    v = kv.value
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list):
        for item in value:
            v.array_value.values.add().string_value = item
    elif isinstance(value, dict):
        v.kvlist_value.values.extend(_kv(k, x) for k, x in value.items())
    elif value is not None:
        v.string_value = value
    return kv


def _trace_request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", "api"))
    spans = rs.scope_spans.add().spans
    root = spans.add(trace_id=bytes(range(16)), span_id=b"\xab" * 8, name="GET /x",
                     kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=1_000_000_000,
                     end_time_unix_nano=1_002_500_000)
    root.attributes.extend([
        _kv("s", 'quote " and \\ and é'), _kv("i", -3), _kv("zero", 0), _kv("b", False),
        _kv("d", 0.25), _kv("nan", math.nan), _kv("arr", ["a", "b"]), _kv("kv", {"k": 1}),
        _kv("raw", b"\x00\x01"), _kv("empty", ""), _kv("none", None),
    ])
    root.status.code = Status.STATUS_CODE_OK
    child = spans.add(trace_id=bytes(range(16)), span_id=b"\xcd" * 8,
                      parent_span_id=b"\xab" * 8, name="db", kind=Span.SPAN_KIND_CLIENT,
                      start_time_unix_nano=1_000_100_000, end_time_unix_nano=1_000_200_000)
    child.status.code, child.status.message = Status.STATUS_CODE_ERROR, "timeout"
    child.events.add(name="exception", time_unix_nano=1_000_150_000).attributes.append(
        _kv("exception.type", "TimeoutError"))
    return req


def _otlp_json(message: Any) -> bytes:
    """The OTLP JSON encoding: proto3 JSON mapping with hex instead of base64 ids."""
    doc = json_format.MessageToDict(message)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    node[key] = base64.b64decode(value).hex().upper()
                else:
                    fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(doc)
    return json.dumps(doc).encode()


def test_spans_columns_follow_the_schema() -> None:
    cols = decode_traces(_trace_request().SerializeToString(), PB)
    assert set(cols) == {f.name for f in SPANS} - {"repeat"}
    assert cols["trace_id"] == ["000102030405060708090a0b0c0d0e0f"] * 2
    assert cols["span_id"] == ["abababababababab", "cdcdcdcdcdcdcdcd"]
    assert cols["parent_span_id"] == ["", "abababababababab"]
    assert cols["kind"] == ["SERVER", "CLIENT"]
    assert cols["status"] == ["OK", "ERROR"] and cols["status_message"] == ["", "timeout"]
    assert cols["service"] == ["api", "api"]
    assert cols["duration_ms"] == [2.5, 0.1]
    assert json.loads(cols["attributes"][0]) == {
        "s": 'quote " and \\ and é', "i": -3, "zero": 0, "b": False, "d": 0.25, "nan": None,
        "arr": ["a", "b"], "kv": {"k": 1}, "raw": "AAE=", "empty": "", "none": None,
    }
    assert cols["attributes"][1] == "{}" and cols["events"][0] == "[]"
    assert json.loads(cols["events"][1]) == [{
        "name": "exception", "ts_ns": 1_000_150_000,
        "attributes": {"exception.type": "TimeoutError"}}]


def test_attribute_json_is_stable_across_repeated_values() -> None:
    body = _trace_request().SerializeToString()
    first = decode_traces(body, PB)["attributes"]
    assert decode_traces(body, PB)["attributes"] == first  # memoised members, same text


def test_json_and_protobuf_decode_alike() -> None:
    req = _trace_request()
    assert decode_traces(_otlp_json(req), JS) == decode_traces(req.SerializeToString(), PB)


def test_json_accepts_base64_ids_and_snake_case() -> None:
    doc = json_format.MessageToDict(_trace_request(), preserving_proto_field_name=True)
    cols = decode_traces(json.dumps(doc).encode(), "application/json")
    assert cols["span_id"] == ["abababababababab", "cdcdcdcdcdcdcdcd"]


@pytest.mark.parametrize(("body", "content_type"), [
    (b"\x0a\xff\xff\xff\x0f", PB),
    (b"{broken", JS),
    (b"[1, 2]", JS),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', JS),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JS),
    (b"", "text/plain"),
])
def test_malformed_input_raises_decode_error(body: bytes, content_type: str) -> None:
    with pytest.raises(DecodeError):
        decode_traces(body, content_type)


def test_payload_format() -> None:
    assert payload_format("Application/X-Protobuf") == "protobuf"
    assert payload_format("application/json; charset=utf-8") == "json"
    assert payload_format("text/html") is None


def test_logs_levels_bodies_and_ids() -> None:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(_kv("service.name", "worker"))
    records = rl.scope_logs.add().log_records
    records.add(time_unix_nano=5, severity_number=21, trace_id=b"\x11" * 16,
                span_id=b"\x22" * 8).body.string_value = "fatal thing"
    warn = records.add(observed_time_unix_nano=6, severity_text="WARN")
    warn.body.kvlist_value.values.append(_kv("k", "v"))
    warn.attributes.append(_kv("a", 1))
    records.add(time_unix_nano=7)
    cols = decode_logs(req.SerializeToString(), PB)
    assert set(cols) == {f.name for f in LOGS} - {"repeat"}
    assert cols["ts_ns"] == [5, 6, 7]
    assert cols["level"] == ["critical", "warning", "info"]
    assert cols["severity_number"] == [21, 0, 0]
    assert cols["message"] == ["fatal thing", '{"k":"v"}', ""]
    assert cols["trace_id"] == ["11" * 16, "", ""] and cols["span_id"] == ["22" * 8, "", ""]
    assert cols["attributes"] == ["{}", '{"a":1}', "{}"]
    assert cols["source"] == ["otlp"] * 3 and cols["service"] == ["worker"] * 3


def _metrics_request() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    total = metrics.add(name="jobs.done")
    total.sum.is_monotonic = True
    dp = total.sum.data_points.add(time_unix_nano=10, as_int=4)
    dp.attributes.extend([_kv("z", "1"), _kv("a", "2")])
    updown = metrics.add(name="queue.depth")
    updown.sum.is_monotonic = False
    updown.sum.data_points.add(time_unix_nano=10, as_int=-2)
    metrics.add(name="temp").gauge.data_points.add(time_unix_nano=10, as_double=21.5)
    hist = metrics.add(name="latency").histogram.data_points.add(
        time_unix_nano=10, count=6, sum=12.5, explicit_bounds=[1.0, 5.0],
        bucket_counts=[1, 2, 3])
    hist.attributes.append(_kv("route", "/"))
    metrics.add(name="exp").exponential_histogram.data_points.add(
        time_unix_nano=10, count=5, sum=9.0, scale=0, zero_count=1,
        positive={"offset": 0, "bucket_counts": [1, 2]}, negative={"offset": 1,
                                                                   "bucket_counts": [1]})
    summary = metrics.add(name="rpc").summary.data_points.add(time_unix_nano=10, count=3,
                                                              sum=0.6)
    summary.quantile_values.add(quantile=0.5, value=0.2)
    return req


def _samples(cols: dict[str, list[Any]], name: str) -> list[tuple[Any, ...]]:
    rows = zip(cols["name"], cols["sample"], cols["type"], cols["labels"], cols["le"],
               cols["value"], strict=True)
    return [(s, t, lab, None if math.isnan(le) else le, v) for n, s, t, lab, le, v in rows
            if n == name]


def test_metrics_rows_are_prometheus_shaped() -> None:
    cols = decode_metrics(_metrics_request().SerializeToString(), PB)
    assert set(cols) == {f.name for f in METRICS} - {"repeat"}
    assert _samples(cols, "jobs.done") == [("jobs.done", "counter", '{"a":"2","z":"1"}', None,
                                            4.0)]
    assert _samples(cols, "queue.depth") == [("queue.depth", "gauge", "{}", None, -2.0)]
    assert _samples(cols, "temp") == [("temp", "gauge", "{}", None, 21.5)]
    lab = '{"route":"/"}'
    assert _samples(cols, "latency") == [
        ("latency_bucket", "histogram", lab, 1.0, 1.0),
        ("latency_bucket", "histogram", lab, 5.0, 3.0),
        ("latency_bucket", "histogram", lab, math.inf, 6.0),
        ("latency_sum", "histogram", lab, None, 12.5),
        ("latency_count", "histogram", lab, None, 6.0),
    ]
    # base 2: negative bucket 1 is [-4, -2), zero bucket, positive 0 is (1, 2], 1 is (2, 4]
    exp = [(s, le, v) for s, _, _, le, v in _samples(cols, "exp")]
    assert exp == [("exp_bucket", -2.0, 1.0), ("exp_bucket", 0.0, 2.0),
                   ("exp_bucket", 2.0, 3.0), ("exp_bucket", 4.0, 5.0),
                   ("exp_bucket", math.inf, 5.0), ("exp_sum", None, 9.0),
                   ("exp_count", None, 5.0)]
    assert _samples(cols, "rpc") == [("rpc", "summary", '{"quantile":"0.5"}', None, 0.2),
                                     ("rpc_sum", "summary", "{}", None, 0.6),
                                     ("rpc_count", "summary", "{}", None, 3.0)]
    assert set(cols["source"]) == {"otlp"} and set(cols["ts_ns"]) == {10}


def test_metrics_json_matches_protobuf() -> None:
    req = _metrics_request()
    a = decode_metrics(_otlp_json(req), JS)
    b = decode_metrics(req.SerializeToString(), PB)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe compare
