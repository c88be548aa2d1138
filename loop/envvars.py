"""Every environment variable cleanloop reads or sets, in one place."""

from __future__ import annotations

# read by cleanloop
CLEANLOOP_CHROMIUM = "CLEANLOOP_CHROMIUM"        # path to a Chromium/Chrome executable
CLEANLOOP_HOME = "CLEANLOOP_HOME"                # where .cleanloop/ lives (default: git top level)
NO_COLOR = "NO_COLOR"

# set for a coding agent's command (loop.agents)
CLEANLOOP_WORKTREE = "CLEANLOOP_WORKTREE"
CLEANLOOP_EVIDENCE = "CLEANLOOP_EVIDENCE"
CLEANLOOP_ITERATION = "CLEANLOOP_ITERATION"
CLEANLOOP_PROMPT_FILE = "CLEANLOOP_PROMPT_FILE"

# injected into the app under test
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
OTEL_BSP_SCHEDULE_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
OTEL_BLRP_SCHEDULE_DELAY = "OTEL_BLRP_SCHEDULE_DELAY"
OTEL_METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL"
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_EXPORTER_OTLP_TIMEOUT = "OTEL_EXPORTER_OTLP_TIMEOUT"
PORT = "PORT"

#: export intervals short enough for a test run (milliseconds)
FAST_EXPORT_MS = "200"


def telemetry_env(endpoint: str, service: str, port: int) -> dict[str, str]:
    return {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_SERVICE_NAME: service,
        OTEL_BSP_SCHEDULE_DELAY: FAST_EXPORT_MS,
        OTEL_BLRP_SCHEDULE_DELAY: FAST_EXPORT_MS,
        OTEL_METRIC_EXPORT_INTERVAL: FAST_EXPORT_MS,
        OTEL_TRACES_SAMPLER: "always_on",
        OTEL_EXPORTER_OTLP_TIMEOUT: "2",
        PORT: str(port),
    }
