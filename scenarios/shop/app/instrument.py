"""Hand-written request instrumentation: a SERVER span per request plus OTel and Prometheus metrics.

The incoming W3C `traceparent` is extracted so a browser request and its backend span share one
trace id. Spans are named "{METHOD} {route}" after the route template. /metrics and /healthz are
not instrumented (scrapes and readiness polls would drown the signal).
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from opentelemetry import context, metrics, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

UNTRACED = frozenset({"/metrics", "/healthz"})
BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
           0.25, 0.5, 1.0, 2.5, 5.0)

tracer = trace.get_tracer("shop.http")
meter = metrics.get_meter("shop.http")
otel_duration = meter.create_histogram(
    "http.server.request.duration", unit="s", description="Duration of HTTP server requests",
    explicit_bucket_boundaries_advisory=BUCKETS)
otel_requests = meter.create_counter(
    "shop.requests", unit="{request}", description="HTTP requests served")

registry = CollectorRegistry()
prom_requests = Counter("shop_requests", "HTTP requests served",
                        ["method", "route", "status"], registry=registry)
prom_duration = Histogram("shop_request_duration_seconds", "HTTP request duration",
                          ["method", "route"], buckets=BUCKETS, registry=registry)


def instrument(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_end)
    app.add_url_rule("/metrics", "metrics", _metrics)


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else ""


def _start() -> None:
    route = _route()
    if route in UNTRACED:
        return
    parent = propagate.extract(request.headers)
    name = f"{request.method} {route}" if route else request.method
    attributes: dict[str, str] = {"http.request.method": request.method,
                                  "url.path": request.path}
    if route:
        attributes["http.route"] = route
    span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
    g.otel_span = span
    g.otel_token = context.attach(trace.set_span_in_context(span, parent))
    g.otel_start = time.perf_counter()


def _finish(response: Response) -> Response:
    span = g.get("otel_span")
    if span is None:
        return response
    status = response.status_code
    elapsed = time.perf_counter() - g.otel_start
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    route = _route() or "unmatched"
    attrs: dict[str, str | int] = {"http.request.method": request.method, "http.route": route,
             "http.response.status_code": status}
    otel_duration.record(elapsed, attrs)
    otel_requests.add(1, attrs)
    prom_requests.labels(request.method, route, str(status)).inc()
    prom_duration.labels(request.method, route).observe(elapsed)
    return response


def _end(exc: BaseException | None) -> None:
    span = g.pop("otel_span", None)
    if span is None:
        return
    if exc is not None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.end()
    context.detach(g.pop("otel_token"))


def _metrics() -> Response:
    return Response(generate_latest(registry), mimetype=None,
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
