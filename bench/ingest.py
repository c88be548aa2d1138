"""Span ingest: protobuf parse-only rate vs the OTLP receiver end to end, side by side.

    python bench/ingest.py [--spans N] [--per-request 512] [--clients 2] [--rounds 3]

parse-only  = ExportTraceServiceRequest.FromString(body), then for every span read
              trace_id, span_id, parent_span_id, name, kind, start/end time, status code,
              and every attribute's key and value (WhichOneof + that field). No conversion,
              no storage: the floor any Python consumer of the same bytes pays.
end-to-end  = POST the same bodies over HTTP/1.1 keep-alive (httpx, `--clients` threads) to a
              real OtlpReceiver on loopback, then stop() + drain() + write the spans table
              to parquet (pyarrow, cleanloop.loop.base.schema.SPANS without `repeat`).

Targets: end to end >= 100,000 spans/s, and end-to-end / parse-only >= 0.3.
The client runs in the same process as the receiver, so it shares the GIL with it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cleanloop.collectors.otlp_receiver import OtlpReceiver  # noqa: E402
from cleanloop.loop.base.schema import SPANS  # noqa: E402

TARGET_RATE = 100_000
TARGET_RATIO = 0.3
ROUTES = ("/api/items/{id}", "/api/cart", "/api/checkout", "/", "/api/search")
SERVICES = ("shop-web", "shop-api", "inventory")


AttrValue = str | int | bool | float


def _attr(span: Span, key: str, value: AttrValue) -> None:
    kv = span.attributes.add()
    kv.key = key
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = value


def _trace(spans: list[Span], rng: random.Random, t0: int) -> None:
    """One request: a SERVER span, a DB CLIENT span, an INTERNAL span, an HTTP CLIENT span."""
    trace_id = os.urandom(16)
    route = rng.choice(ROUTES)
    root = Span(trace_id=trace_id, span_id=os.urandom(8), name=f"GET {route}",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=t0,
                end_time_unix_nano=t0 + rng.randint(2_000_000, 90_000_000))
    root_attrs: tuple[tuple[str, AttrValue], ...] = (
        ("http.request.method", "GET"), ("http.route", route),
        ("http.response.status_code", 200), ("server.port", 8080), ("url.scheme", "http"))
    for key, value in root_attrs:
        _attr(root, key, value)
    children: list[tuple[str, Span.SpanKind.ValueType, tuple[tuple[str, AttrValue], ...]]] = [
        ("SELECT shop.items", Span.SPAN_KIND_CLIENT,
         (("db.system", "postgresql"), ("db.statement", "SELECT * FROM items WHERE id = $1"),
          ("db.rows", rng.randint(0, 50)))),
        ("render", Span.SPAN_KIND_INTERNAL, (("template", "item.html"), ("cached", False))),
        ("GET", Span.SPAN_KIND_CLIENT,
         (("http.request.method", "GET"), ("server.address", "inventory"),
          ("http.response.status_code", 200), ("duration.s", 0.0123))),
    ]
    spans.append(root)
    for name, kind, attrs in children:
        start = t0 + rng.randint(100_000, 1_000_000)
        child = Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root.span_id,
                     name=name, kind=kind, start_time_unix_nano=start,
                     end_time_unix_nano=start + rng.randint(50_000, 5_000_000))
        for key, value in attrs:
            _attr(child, key, value)
        if rng.random() < 0.02:
            child.status.code = Status.STATUS_CODE_ERROR
            child.status.message = "connection reset"
            child.events.add(name="exception", time_unix_nano=start + 1)
        spans.append(child)


def build_payloads(count: int, per_request: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    payloads = []
    t0 = time.time_ns()
    for _ in range(count):
        spans: list[Span] = []
        while len(spans) < per_request:
            _trace(spans, rng, t0)
            t0 += 1_000_000
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", rng.choice(SERVICES)
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.flask"
        ss.spans.extend(spans[:per_request])
        payloads.append(req.SerializeToString())
    return payloads


def parse_only(bodies: list[bytes]) -> int:
    """See the module docstring: decode plus reading each field once."""
    n = 0
    for body in bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    _ = (s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind,
                         s.start_time_unix_nano, s.end_time_unix_nano, s.status.code)
                    for kv in s.attributes:
                        v = kv.value
                        _ = (kv.key, getattr(v, v.WhichOneof("value") or "string_value"))
                    n += 1
    return n


def end_to_end(bodies: list[bytes], clients: int, out_dir: Path) -> tuple[int, float]:
    """Seconds from the first POST to the parquet file written; returns (rows, seconds)."""
    receiver = OtlpReceiver()
    receiver.start()
    url = receiver.endpoint + "/v1/traces"
    headers = {"Content-Type": "application/x-protobuf"}
    errors: list[str] = []

    def post(share: list[bytes]) -> None:
        with httpx.Client(trust_env=False, timeout=30.0) as client:
            for body in share:
                r = client.post(url, content=body, headers=headers)
                if r.status_code != 200:
                    errors.append(f"HTTP {r.status_code}")

    threads = [threading.Thread(target=post, args=(bodies[i::clients],), name=f"bench-{i}")
               for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    receiver.stop(time.monotonic() + 30.0)
    columns = receiver.drain()["spans"]
    schema = pa.schema([f for f in SPANS if f.name != "repeat"])
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), out_dir / "spans.parquet")
    seconds = time.perf_counter() - start
    if errors:
        raise SystemExit(f"end-to-end run had failed requests: {errors[:5]}")
    return len(columns["trace_id"]), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--spans", type=int, default=300_000, help="spans per measurement")
    parser.add_argument("--per-request", type=int, default=512)
    parser.add_argument("--clients", type=int, default=2, help="HTTP client threads")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved parse-only / end-to-end rounds (medians reported)")
    args = parser.parse_args(argv)
    n_requests = max(1, args.spans // args.per_request)
    distinct = build_payloads(min(n_requests, 32), args.per_request)
    bodies = [distinct[i % len(distinct)] for i in range(n_requests)]
    total = n_requests * args.per_request
    print(f"payloads: {n_requests} requests x {args.per_request} spans = {total} spans, "
          f"{sum(len(b) for b in bodies) / n_requests / 1024:.0f} KiB per request (protobuf)")
    print("parse-only = FromString + read every span field and attribute value; end-to-end = "
          f"HTTP POST x{args.clients} clients -> decode -> intake -> drain -> parquet")

    parse_only(bodies[:4])  # warm up both sides (pyarrow imports pandas on first use)
    with tempfile.TemporaryDirectory() as tmp:
        end_to_end(bodies[:4], args.clients, Path(tmp))
    parse_rates, e2e_rates = [], []
    for i in range(max(1, args.rounds)):
        t = time.perf_counter()
        parsed = parse_only(bodies)
        parse_rates.append(parsed / (time.perf_counter() - t))
        with tempfile.TemporaryDirectory() as tmp:
            rows, seconds = end_to_end(bodies, args.clients, Path(tmp))
        if rows != total:
            raise SystemExit(f"end to end stored {rows} spans, expected {total}")
        e2e_rates.append(rows / seconds)
        print(f"round {i + 1}: parse-only {parse_rates[-1]:10,.0f} spans/s   end-to-end "
              f"{e2e_rates[-1]:10,.0f} spans/s   ratio {e2e_rates[-1] / parse_rates[-1]:.2f}")
    parse_rate, e2e_rate = statistics.median(parse_rates), statistics.median(e2e_rates)
    ratio = e2e_rate / parse_rate
    print(f"median parse-only : {parse_rate:10,.0f} spans/s")
    print(f"median end-to-end : {e2e_rate:10,.0f} spans/s")
    print(f"ratio             : {ratio:10.2f}  (median end-to-end / median parse-only)")
    ok_rate, ok_ratio = e2e_rate >= TARGET_RATE, ratio >= TARGET_RATIO
    print(f"targets: end-to-end >= {TARGET_RATE:,} spans/s: {'met' if ok_rate else 'MISSED'}; "
          f"ratio >= {TARGET_RATIO}: {'met' if ok_ratio else 'MISSED'}")
    return 0 if ok_rate and ok_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
