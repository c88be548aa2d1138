"""The OTLP receiver against the real OpenTelemetry SDK exporters and raw HTTP clients."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from cleanloop.collectors.otlp_receiver import OtlpReceiver
from cleanloop.loop.base.errors import CollectorError
from cleanloop.loop.base.schema import Columns
from tests.waiting import wait_until

RESOURCE = Resource.create({"service.name": "checkout"})
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as c:
        yield c


def _stop_and_drain(receiver: OtlpReceiver) -> dict[str, Columns]:
    receiver.stop(time.monotonic() + 10.0)
    return receiver.drain()


def _rows(columns: Columns) -> list[dict[str, object]]:
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _export_spans(endpoint: str, compression: Compression = Compression.NoCompression) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=compression)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /api/checkout", kind=trace.SpanKind.SERVER,
                                      attributes={"http.status_code": 500, "retry": True}) as root:
        with tracer.start_as_current_span("SELECT orders") as child:
            child.add_event("rows", {"count": 3})
        root.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
    provider.shutdown()


def _one_span_body(name: str = "hand-made") -> bytes:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, name
    return bytes(req.SerializeToString())


def test_sdk_spans_become_rows_with_parent_child_ids(receiver: OtlpReceiver) -> None:
    _export_spans(receiver.endpoint)
    spans = _rows(_stop_and_drain(receiver)["spans"])
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"POST /api/checkout", "SELECT orders"}
    root, child = by_name["POST /api/checkout"], by_name["SELECT orders"]
    assert child["parent_span_id"] == root["span_id"] and root["parent_span_id"] == ""
    assert child["trace_id"] == root["trace_id"] and len(str(root["trace_id"])) == 32
    assert root["kind"] == "SERVER" and child["kind"] == "INTERNAL"
    assert root["status"] == "ERROR" and root["status_message"] == "boom"
    assert root["service"] == "checkout"
    assert json.loads(str(root["attributes"])) == {"http.status_code": 500, "retry": True}
    events = json.loads(str(child["events"]))
    assert [(e["name"], e["attributes"]) for e in events] == [("rows", {"count": 3})]
    assert isinstance(root["duration_ms"], float) and root["end_ns"] >= root["start_ns"]  # type: ignore[operator]
    assert receiver.stats()["received"] == 2


def test_sdk_gzip_export(receiver: OtlpReceiver) -> None:
    _export_spans(receiver.endpoint, Compression.Gzip)
    assert len(_stop_and_drain(receiver)["spans"]["name"]) == 2


def test_sdk_metrics_histogram_is_cumulative(receiver: OtlpReceiver) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("test")
    meter.create_counter("orders.created").add(3, {"shop": "eu"})
    latency = meter.create_histogram("http.server.duration", unit="ms")
    for value in (3, 7, 7, 60):
        latency.record(value, {"route": "/api/checkout"})
    provider.force_flush()
    provider.shutdown()  # exports once more: keep the last collection only
    metrics = _rows(_stop_and_drain(receiver)["metrics"])
    last = max(int(m["ts_ns"]) for m in metrics)  # type: ignore[call-overload]
    metrics = [m for m in metrics if m["ts_ns"] == last]
    counter = [m for m in metrics if m["name"] == "orders.created"]
    assert [(m["type"], m["value"], m["labels"]) for m in counter] == \
        [("counter", 3.0, '{"shop":"eu"}')]
    buckets = [m for m in metrics if m["sample"] == "http.server.duration_bucket"]
    les = [m["le"] for m in buckets]
    counts = [m["value"] for m in buckets]
    assert les == sorted(les) and les[-1] == float("inf")  # type: ignore[type-var]
    assert counts == sorted(counts) and counts[-1] == 4.0  # type: ignore[type-var]
    by_le = dict(zip(les, counts, strict=True))
    assert (by_le[0.0], by_le[5.0], by_le[10.0], by_le[50.0], by_le[75.0]) == (0, 1, 3, 3, 4)
    assert all(m["labels"] == '{"route":"/api/checkout"}' and m["type"] == "histogram"
               for m in buckets)
    sums = {m["sample"]: m["value"] for m in metrics if m["name"] == "http.server.duration"
            and m["sample"] != "http.server.duration_bucket"}
    assert sums == {"http.server.duration_sum": 77.0, "http.server.duration_count": 4.0}


def test_sdk_logs_carry_level_body_and_trace_ids(receiver: OtlpReceiver) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{receiver.endpoint}/v1/logs")))
    tracer_provider = TracerProvider(resource=RESOURCE)
    logger = provider.get_logger("test")
    with tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        logger.emit(severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                    body="payment failed", attributes={"order": 7},
                    context=trace.set_span_in_context(span))
        ids = span.get_span_context()
    logger.emit(severity_number=SeverityNumber.WARN, body={"structured": [1, 2]})
    provider.shutdown()
    tracer_provider.shutdown()
    logs = _rows(_stop_and_drain(receiver)["logs"])
    assert len(logs) == 2
    error, warning = logs
    assert (error["level"], error["severity_number"], error["message"]) == \
        ("error", 17, "payment failed")
    assert error["trace_id"] == format(ids.trace_id, "032x")
    assert error["span_id"] == format(ids.span_id, "016x")
    assert json.loads(str(error["attributes"])) == {"order": 7}
    assert (error["service"], error["source"]) == ("checkout", "otlp")
    assert (warning["level"], warning["message"], warning["trace_id"]) == \
        ("warning", '{"structured":[1,2]}', "")


def test_json_export_with_hex_ids(receiver: OtlpReceiver, client: httpx.Client) -> None:
    payload = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "", "name": "GET /", "kind": 2,
            "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
            "attributes": [{"key": "n", "value": {"intValue": "42"}}],
            "status": {"code": 2, "message": "bad"}}]}]}]}
    r = client.post(f"{receiver.endpoint}/v1/traces", json=payload)
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    (span,) = _rows(_stop_and_drain(receiver)["spans"])
    assert span["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert span["span_id"] == "eee19b7ec3c1b174"
    assert (span["kind"], span["status"], span["service"]) == ("SERVER", "ERROR", "web")
    assert (span["duration_ms"], span["attributes"]) == (1000.0, '{"n":42}')


def test_malformed_payload_is_400_counted_and_receiver_keeps_serving(
        receiver: OtlpReceiver, client: httpx.Client) -> None:
    url = f"{receiver.endpoint}/v1/traces"
    truncated = b"\x0a\xff\xff\xff\x0f"  # field 1, length far beyond the body
    assert client.post(url, content=truncated, headers=PROTOBUF).status_code == 400
    bad_json = {"Content-Type": "application/json"}
    assert client.post(url, content=b"{not json", headers=bad_json).status_code == 400
    assert client.post(url, content=_one_span_body(), headers=PROTOBUF).status_code == 200
    _export_spans(receiver.endpoint)
    assert receiver.stats()["rejected"] == 2
    assert len(_stop_and_drain(receiver)["spans"]["name"]) == 3


def test_oversized_payloads_are_413_and_receiver_keeps_serving(client: httpx.Client) -> None:
    with OtlpReceiver(max_body_bytes=4096) as receiver:
        url = f"{receiver.endpoint}/v1/traces"
        big = client.post(url, content=b"\x00" * (16 << 20), headers=PROTOBUF)  # discarded
        bomb = client.post(url, content=gzip.compress(b"\x00" * 100_000),
                           headers={**PROTOBUF, "Content-Encoding": "gzip"})
        assert (big.status_code, bomb.status_code) == (413, 413)
        zipped = client.post(url, content=gzip.compress(_one_span_body()),
                             headers={**PROTOBUF, "Content-Encoding": "gzip"})
        assert zipped.status_code == 200
        stats = receiver.stats()
        assert (stats["too_large"], stats["rejected"]) == (2, 2)
        assert _stop_and_drain(receiver)["spans"]["name"] == ["hand-made"]


def test_unknown_path_and_media_type(receiver: OtlpReceiver, client: httpx.Client) -> None:
    assert client.post(f"{receiver.endpoint}/v1/nope", content=b"x",
                       headers=PROTOBUF).status_code == 404
    assert client.get(f"{receiver.endpoint}/v1/traces").status_code == 405
    assert client.post(f"{receiver.endpoint}/v1/traces", content=b"x",
                       headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post(f"{receiver.endpoint}/v1/traces", content=_one_span_body(),
                       headers=PROTOBUF).status_code == 200
    stats = receiver.stats()
    assert (stats["not_found"], stats["rejected"], stats["received"]) == (1, 1, 1)


def test_chunked_body(receiver: OtlpReceiver, client: httpx.Client) -> None:
    body = _one_span_body("chunked")
    r = client.post(f"{receiver.endpoint}/v1/traces", headers=PROTOBUF,
                    content=iter([body[:10], body[10:]]))  # an iterator is sent chunked
    assert r.status_code == 200
    assert _stop_and_drain(receiver)["spans"]["name"] == ["chunked"]


def test_full_intake_answers_503_and_counts_dropped_rows(client: httpx.Client) -> None:
    receiver = OtlpReceiver(max_batches=1)
    receiver.start()
    url = f"{receiver.endpoint}/v1/traces"
    statuses = []
    with receiver._intake._lock:  # the intake thread blocks: at most 2 batches fit
        for _ in range(3):
            statuses.append(client.post(url, content=_one_span_body(), headers=PROTOBUF)
                            .status_code)
    assert 503 in statuses
    stored = len(_stop_and_drain(receiver)["spans"]["name"])
    stats = receiver.stats()
    assert stored == statuses.count(200) == stats["received"]
    assert stats["dropped"] == statuses.count(503)


def test_stop_closes_idle_keepalive_connections_and_is_idempotent(client: httpx.Client) -> None:
    receiver = OtlpReceiver()
    receiver.start()
    endpoint = receiver.endpoint
    r = client.post(f"{endpoint}/v1/traces", content=_one_span_body(), headers=PROTOBUF)
    assert r.status_code == 200 and r.http_version == "HTTP/1.1"
    receiver.stop(time.monotonic() + 10.0)
    receiver.stop(time.monotonic() + 10.0)
    assert receiver.drain()["spans"]["name"] == ["hand-made"]
    assert receiver.drain()["spans"]["name"] == []  # drained once
    with pytest.raises(httpx.TransportError):
        client.post(f"{endpoint}/v1/traces", content=_one_span_body(), headers=PROTOBUF)


def test_drain_has_every_table_with_schema_columns(receiver: OtlpReceiver) -> None:
    tables = _stop_and_drain(receiver)
    assert set(tables) == {"spans", "logs", "metrics"}
    assert "trace_id" in tables["spans"] and "repeat" not in tables["spans"]
    assert all(values == [] for table in tables.values() for values in table.values())


def test_port_in_use_is_a_collector_error() -> None:
    with OtlpReceiver() as first:
        port = int(first.endpoint.rsplit(":", 1)[1])
        with pytest.raises(CollectorError, match="cannot bind"):
            OtlpReceiver(port=port).start()
    with pytest.raises(CollectorError, match="before start"):
        _ = OtlpReceiver().endpoint


def test_activity_counts_rows_per_table_and_the_newest_metric_point(
        receiver: OtlpReceiver, client: httpx.Client) -> None:
    empty = receiver.activity()
    assert dict(empty.rows) == {"spans": 0, "logs": 0, "metrics": 0}
    assert empty.last_of(("spans", "logs")) is None and empty.latest_metric_ns == 0
    before = time.monotonic()
    _export_spans(receiver.endpoint)
    assert client.post(f"{receiver.endpoint}/v1/traces", content=b"\xff",
                       headers=PROTOBUF).status_code == 400
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"),
        export_interval_millis=60_000)], resource=RESOURCE)
    provider.get_meter("test").create_counter("orders").add(2)
    collected_after = time.time_ns()
    provider.shutdown()  # exports once
    act = receiver.activity()
    assert dict(act.rows) == {"spans": 2, "logs": 0, "metrics": 1}
    # the response goes out just before the server thread leaves its request: wait for it
    assert wait_until(lambda: not any(receiver.activity().in_flight.values()))
    act = receiver.activity()
    assert dict(act.in_flight) == {"spans": 0, "logs": 0, "metrics": 0}
    last = act.last_of(("spans", "logs"))
    assert last is not None and last >= before and "logs" not in act.last_arrival
    assert act.latest_metric_ns >= collected_after
    assert act.rows == receiver.activity().rows    # a snapshot: nothing changed since
