"""Every environment variable cleanloop reads or sets, in one place."""

from __future__ import annotations

from collections.abc import Mapping

# read by cleanloop
CLEANLOOP_CHROMIUM = "CLEANLOOP_CHROMIUM"        # path to a Chromium/Chrome executable
CLEANLOOP_HOME = "CLEANLOOP_HOME"                # where .cleanloop/ lives (default: git top level)
NO_COLOR = "NO_COLOR"

# set for a coding agent's command (cleanloop.loop.fix.agents)
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
FAST_EXPORT_MS = "100"
#: the batch span and log processors' delays; the periodic metric reader's interval
TRACE_LOG_DELAYS = (OTEL_BSP_SCHEDULE_DELAY, OTEL_BLRP_SCHEDULE_DELAY)
METRIC_INTERVALS = (OTEL_METRIC_EXPORT_INTERVAL,)


def export_interval_s(env: Mapping[str, str], names: tuple[str, ...]) -> float:
    """The longest of the export intervals `names` in the app's environment, in seconds
    (FAST_EXPORT_MS where unset or unreadable, as telemetry_env sets them)."""
    values = []
    for name in names:
        try:
            ms = float(env.get(name, FAST_EXPORT_MS))
        except ValueError:
            ms = float(FAST_EXPORT_MS)
        values.append(ms if ms > 0 else float(FAST_EXPORT_MS))
    return max(values, default=float(FAST_EXPORT_MS)) / 1000


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
