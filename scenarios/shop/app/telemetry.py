"""OpenTelemetry set-up by hand (no instrumentation packages) plus JSON-lines stdout logging.

Traces, metrics and logs go over OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT; the SDK reads
the endpoint, OTEL_SERVICE_NAME and the OTEL_BSP/BLRP/METRIC intervals from the environment
itself. Without an endpoint nothing is exported, but spans still exist so stdout log lines carry
trace ids. `Telemetry.shutdown()` flushes every provider; call it before the process exits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import warnings
from typing import Any

from flask import has_request_context, request
from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}
_LEVELS = {"WARNING": "warning", "CRITICAL": "critical"}


class JsonLinesHandler(logging.Handler):
    """One JSON object per line on stdout, flushed, with the current trace context and route."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(json.dumps(self.to_dict(record), default=str) + "\n")
            self.stream.flush()
        except Exception:  # logging must never take the app down
            self.handleError(record)

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        ctx = trace.get_current_span().get_span_context()
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": _LEVELS.get(record.levelname, record.levelname.lower()),
            "message": record.getMessage(),
            "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else "",
            "span_id": format(ctx.span_id, "016x") if ctx.is_valid else "",
            "route": _current_route(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = logging.Formatter().formatException(record.exc_info)
        return line


def _current_route() -> str:
    if not has_request_context():
        return ""
    rule = request.url_rule
    return rule.rule if rule is not None else request.path


class Telemetry:
    """Installs the global tracer, meter and logger providers and the stdout log handler."""

    def __init__(self) -> None:
        self.endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        service = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "shop"}
        self.resource = Resource.create(service)
        self.tracer_provider = TracerProvider(resource=self.resource)
        self.meter_provider: Any = None
        self.logger_provider: Any = None

    def install(self) -> None:
        trace.set_tracer_provider(self.tracer_provider)
        root = logging.getLogger()
        root.setLevel(logging.INFO)
        root.addHandler(JsonLinesHandler())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines
        if self.endpoint:
            self._install_exporters(root)

    def _install_exporters(self, root: logging.Logger) -> None:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        self.meter_provider = MeterProvider(resource=self.resource, metric_readers=[reader])
        metrics.set_meter_provider(self.meter_provider)
        self.logger_provider = LoggerProvider(resource=self.resource)
        self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        set_logger_provider(self.logger_provider)
        with warnings.catch_warnings():
            # deprecated in favour of opentelemetry-instrumentation-logging, which we do not use
            warnings.simplefilter("ignore", DeprecationWarning)
            handler = LoggingHandler(logger_provider=self.logger_provider)
        # the exporters' own complaints must not loop back into the exporter
        handler.addFilter(lambda record: not record.name.startswith("opentelemetry"))
        root.addHandler(handler)

    def shutdown(self) -> None:
        """Flush and stop every provider (spans, then metrics, then logs)."""
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
