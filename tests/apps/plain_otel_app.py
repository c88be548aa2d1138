"""A standard OpenTelemetry app and nothing more: the plain SDK with its defaults.

TracerProvider + BatchSpanProcessor(OTLPSpanExporter()), MeterProvider +
PeriodicExportingMetricReader(OTLPMetricExporter()), LoggerProvider +
BatchLogRecordProcessor(OTLPLogExporter()); every exporter, delay and interval comes from
the OTEL_* environment. It installs no signal handler, so SIGTERM ends it without the
SDK's exit-time flush: whatever the batch processors still hold is lost unless it was
exported before the stop.

    python tests/apps/plain_otel_app.py --port 8080

Every request but GET /healthz gets a server span named "GET <path>", one increment of
the counter `app.requests` and one OTLP log record "served <path>"; GET /crash exits at
once with code 7.
"""

from __future__ import annotations

import argparse
import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)
metrics.set_meter_provider(MeterProvider(
    metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]))
logger_provider = LoggerProvider()
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))

log = logging.getLogger("plain_otel_app")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=logger_provider))
log.propagate = False

tracer = trace.get_tracer("plain_otel_app")
requests = metrics.get_meter("plain_otel_app").create_counter("app.requests")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server naming
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._reply(b"ok")
            return
        if path == "/crash":
            os._exit(7)
        with tracer.start_as_current_span(f"GET {path}", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", path)
            requests.add(1, {"route": path})
            log.info("served %s", path)
            self._reply(b"hello")

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
