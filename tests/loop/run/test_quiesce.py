"""Quiesce: the last telemetry of a plain OpenTelemetry app arrives before the app is stopped.

The app (tests/apps/plain_otel_app.py) is the plain SDK with its batch processors and a
periodic metric reader, and no signal handler: SIGTERM ends it without a flush, so anything
not exported before the stop is lost. Real app, real exporters, real receiver.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from cleanloop.collectors.otlp_receiver import OtlpReceiver
from cleanloop.loop.base.envvars import (
    FAST_EXPORT_MS,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_METRIC_EXPORT_INTERVAL,
)
from cleanloop.loop.cli.main import main
from cleanloop.loop.run.quiesce import (
    BOUND,
    EXITED,
    MAX_WAIT_S,
    QUIET,
    Mark,
    Window,
    wait_for_last_export,
)
from tests.waiting import wait_until

APP = Path(__file__).resolve().parents[2] / "apps" / "plain_otel_app.py"


def scenario(tmp_path: Path, steps: str, checks: str) -> Path:
    path = tmp_path / "plain.yaml"
    path.write_text(
        "name: plain-otel\napp:\n"
        f'  command: "{{python}} {APP} --port {{port}}"\n'
        "  ready: {http: /healthz}\n  timeout: 30s\n  stop_timeout: 5s\n"
        "  service: plain\n"
        f"steps:\n{steps}checks:\n{checks}")
    return path


def run_json(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int,
                                                                                   dict[str, Any]]:
    code = main(["run", str(path), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def failed(verdict: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(c["check"], c["value"]) for c in verdict["checks"] if not c["ok"]]


def test_a_lone_final_request_delivers_its_span_log_and_metric(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, "  - http: {path: /x}\n",
                    '  - span("GET /x").count == 1\n'
                    '  - logs(message ~ "served /x").count == 1\n'
                    '  - metric("app.requests").value == 1\n')
    code, verdict = run_json(path, capsys)
    assert failed(verdict) == []
    assert code == 0
    run = verdict["runs"][0]
    after = run["rows_after_last_step"]
    assert set(after) == {"spans", "logs", "metrics"}
    # the lone span and log record were exported only after the step
    assert after["spans"] == 1 and after["logs"] == 1
    assert after["metrics"] >= 1
    assert run["quiesce_outcome"] == "quiet"
    assert isinstance(run["quiesce_ms"], float)
    assert "collectors" in run and "steps" in run      # the existing keys stay


def test_a_load_delivers_every_span_and_the_final_counter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, "  - load: {path: /x, requests: 300, concurrency: 4}\n",
                    '  - span("GET /x").count == 300\n'
                    '  - logs(message ~ "served /x").count == 300\n'
                    '  - metric("app.requests").value == 300\n')
    code, verdict = run_json(path, capsys, "--repeat", "2")
    assert failed(verdict) == []
    assert code == 0
    for run in verdict["runs"]:
        assert run["quiesce_outcome"] == "quiet"
        assert run["rows_after_last_step"]["metrics"] >= 1
    stored = json.loads((Path(verdict["artifacts"]["run_dir"]) / "verdict.json").read_text())
    assert [r["rows_after_last_step"] for r in stored["runs"]] == \
        [r["rows_after_last_step"] for r in verdict["runs"]]


def test_an_app_that_crashed_is_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, "  - http: {path: /x}\n  - http: {path: /crash}\n",
                    '  - span("GET /x").count <= 1\n')
    code, verdict = run_json(path, capsys)
    assert code == 1
    run = verdict["runs"][0]
    assert run["crashed"] is True
    assert run["quiesce_outcome"] == "skipped"
    assert run["quiesce_ms"] is None
    assert set(run["rows_after_last_step"]) == {"spans", "logs", "metrics"}


# -- the wait itself, against a real receiver fed by real SDK exporters ---------------------

@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def always() -> bool:
    return True


def test_nothing_pending_is_quiet_after_the_window(receiver: OtlpReceiver) -> None:
    mark = Mark.now(receiver.activity())
    out = wait_for_last_export(receiver.activity, mark, Window.for_env({}), always)
    assert out.outcome == QUIET
    assert mark.rows_since(receiver.activity()) == {"spans": 0, "logs": 0, "metrics": 0}


def test_the_window_follows_the_export_intervals_the_app_was_given() -> None:
    default = Window.for_env({})
    assert default.quiet_s > float(FAST_EXPORT_MS) / 1000
    assert default.bound_s > default.quiet_s
    slow = Window.for_env({OTEL_BSP_SCHEDULE_DELAY: "1000", OTEL_METRIC_EXPORT_INTERVAL: "x"})
    assert slow.quiet_s > 1.0 and slow.quiet_s > default.quiet_s
    assert Window.for_env({OTEL_METRIC_EXPORT_INTERVAL: "60000"}).bound_s == MAX_WAIT_S


def test_an_app_that_never_stops_exporting_is_stopped_at_the_bound(
        receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"), schedule_delay_millis=20))
    tracer = provider.get_tracer("busy")
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            with tracer.start_as_current_span("background job"):
                pass
            stop.wait(0.01)

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    try:
        assert wait_until(lambda: receiver.activity().rows["spans"] > 0, timeout=30.0)
        mark = Mark.now(receiver.activity())
        with caplog.at_level(logging.WARNING, logger="cleanloop.loop.run.quiesce"):
            out = wait_for_last_export(receiver.activity, mark, Window.for_env({}), always)
    finally:
        stop.set()
        worker.join()
        provider.shutdown()
    assert out.outcome == BOUND
    assert "spans" in out.pending
    assert "waiting" in caplog.text and "last telemetry" in caplog.text
    assert mark.rows_since(receiver.activity())["spans"] > 0


def test_metrics_are_awaited_until_a_point_collected_after_the_mark_arrives(
        receiver: OtlpReceiver) -> None:
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"),
        export_interval_millis=int(FAST_EXPORT_MS))])
    provider.get_meter("m").create_counter("orders").add(1)
    try:
        assert wait_until(lambda: receiver.activity().rows["metrics"] > 0, timeout=30.0)
        mark = Mark.now(receiver.activity())
        out = wait_for_last_export(receiver.activity, mark, Window.for_env({}), always)
    finally:
        provider.shutdown()
    assert out.outcome == QUIET
    assert receiver.activity().latest_metric_ns >= mark.wall_ns


def test_metrics_that_stopped_coming_hit_the_bound(receiver: OtlpReceiver) -> None:
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"),
        export_interval_millis=60_000)])
    provider.get_meter("m").create_counter("orders").add(1)
    provider.shutdown()  # one export, collected before the mark
    mark = Mark.now(receiver.activity())
    out = wait_for_last_export(receiver.activity, mark, Window.for_env({}), always)
    assert out.outcome == BOUND
    assert "metric" in out.pending


def test_an_app_that_exited_is_not_waited_for(receiver: OtlpReceiver) -> None:
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.endpoint}/v1/metrics"),
        export_interval_millis=60_000)])
    provider.get_meter("m").create_counter("orders").add(1)
    provider.shutdown()  # metrics stay pending: only the exit ends the wait before the bound
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    mark = Mark.now(receiver.activity())
    out = wait_for_last_export(receiver.activity, mark, Window.for_env({}),
                               lambda: proc.poll() is None)
    assert out.outcome == EXITED
    assert out.pending
