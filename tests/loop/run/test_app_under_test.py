"""AppUnderTest: one boot of a real app with real collectors, stopped on every exit path.

The app is tests/apps/plain_otel_app.py (the plain OpenTelemetry SDK exporting to the real
OTLP receiver), or a few lines of http.server written into the test's directory.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import httpx
import pytest

from cleanloop.collectors.base import Collector
from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.model.scenario import Scenario, load_scenario
from cleanloop.loop.run.app import AppUnderTest
from cleanloop.loop.run.progress import QuietProgress
from cleanloop.loop.store.run_store import RunStore

APP = Path(__file__).resolve().parents[2] / "apps" / "plain_otel_app.py"

METRICS_APP = textwrap.dedent("""\
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok" if self.path == "/healthz" else b"# TYPE hits counter\\nhits_total 3\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)


def plain_scenario(tmp_path: Path, app: str = "") -> Scenario:
    path = tmp_path / "plain.yaml"
    path.write_text("name: plain\napp:\n"
                    f'  command: "{{python}} {APP} --port {{port}}"\n'
                    "  ready: {http: /healthz}\n  timeout: 30s\n  service: plain\n"
                    f"{app}steps:\n  - http: {{path: /x}}\n")
    return load_scenario(path)


def make_app(tmp_path: Path, scenario: Scenario) -> AppUnderTest:
    return AppUnderTest(scenario, tmp_path, RunStore(tmp_path / "run"), QuietProgress(), {})


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def refuses(url: str) -> bool:
    try:
        httpx.get(url, timeout=2.0)
    except httpx.TransportError:
        return True
    return False


def test_the_block_boots_the_app_with_its_collectors_and_drains_them(tmp_path: Path) -> None:
    with make_app(tmp_path, plain_scenario(tmp_path)) as app:
        pid, endpoint = app.handle.pid, app.receiver and app.receiver.endpoint
        assert app.startup_ms is not None and app.startup_ms > 0
        assert app.base_url == f"http://127.0.0.1:{app.handle.port}"
        assert [c.name for c in app.collectors] == ["otlp", "process"]
        assert all(isinstance(c, Collector) for c in app.collectors)
        assert app.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert app.env["PORT"] == str(app.handle.port)
        assert httpx.get(app.base_url + "/x", timeout=10.0).text == "hello"
        app.end_steps()
    data = app.data
    assert data.quiesce_outcome == "quiet" and data.quiesce_ms is not None
    # the lone span and log record of /x were exported after the "last step"
    assert data.rows_after_last_step is not None
    assert data.rows_after_last_step["spans"] == 1 and data.rows_after_last_step["logs"] == 1
    assert list(data.frame("spans")["name"]) == ["GET /x"]
    assert set(data.collector_stats) == {"otlp", "process"}
    assert not data.crashed and data.exit_code is None
    assert app.stop_code is not None           # stopped by the group's SIGTERM
    assert gone(pid) and not app.running
    assert endpoint and refuses(endpoint + "/v1/traces")


def test_start_and_stop_keep_the_app_running_in_between(tmp_path: Path) -> None:
    app = make_app(tmp_path, plain_scenario(tmp_path)).start()
    try:
        assert app.running and app.launcher.alive()
        assert httpx.get(app.base_url + "/healthz", timeout=10.0).status_code == 200
        with pytest.raises(RuntimeError, match="boots once"):
            app.start()
    finally:
        data = app.stop()
    assert app.stop() is data                  # idempotent
    assert gone(app.handle.pid) and not app.running
    # stopped without end_steps: no wait for the last telemetry, no "after the last step"
    assert data.quiesce_outcome is None and data.rows_after_last_step is None
    assert (tmp_path / "run" / "app.log").exists()


def test_an_interrupt_inside_the_block_stops_every_part(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), make_app(tmp_path, plain_scenario(tmp_path)) as app:
        assert app.receiver is not None
        pid, endpoint = app.handle.pid, app.receiver.endpoint
        raise KeyboardInterrupt
    assert gone(pid) and not app.running
    assert refuses(endpoint + "/v1/traces")
    assert app.data.rows_after_last_step is None and app.data.quiesce_outcome is None


def test_an_app_that_never_gets_ready_is_stopped_with_its_collectors(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    # an app that never listens: it blocks until it is stopped
    path.write_text('name: slow\napp:\n  command: "{python} -c '
                    "'import threading; threading.Event().wait()'\""
                    "\n  ready: {port: true}\n  timeout: 1s\nsteps:\n  - http: {path: /}\n")
    app = make_app(tmp_path, load_scenario(path))
    with pytest.raises(LaunchError, match=r"did not become ready \(port\) within 1s"):
        app.start()
    assert app.receiver is not None and refuses(app.receiver.endpoint + "/v1/traces")
    assert gone(app.handle.pid) and not app.running
    assert app.stop() is app.data


def test_an_app_that_exits_at_boot_reports_its_code_and_log(tmp_path: Path) -> None:
    path = tmp_path / "dies.yaml"
    path.write_text("name: dies\napp:\n"
                    '  command: "{python} -c \'import sys; print(\\"boom\\"); sys.exit(4)\'"\n'
                    "  ready: {http: /healthz}\n  timeout: 30s\nsteps:\n  - http: {path: /}\n")
    app = make_app(tmp_path, load_scenario(path))
    with pytest.raises(LaunchError, match="exited with code 4") as info:
        app.start()
    assert "boom" in info.value.log_tail


def test_app_metrics_adds_the_prometheus_scraper(tmp_path: Path) -> None:
    (tmp_path / "metrics_app.py").write_text(METRICS_APP)
    path = tmp_path / "metrics.yaml"
    path.write_text('name: metrics\napp:\n  command: "{python} metrics_app.py {port}"\n'
                    "  ready: {http: /healthz}\n  metrics: /metrics\n  scrape_interval: 10s\n"
                    "steps:\n  - http: {path: /}\n")
    with make_app(tmp_path, load_scenario(path)) as app:
        assert [c.name for c in app.collectors] == ["prometheus", "otlp", "process"]
        app.end_steps()
    assert "prometheus" in app.data.collector_stats
    scraped = app.data.frame("metrics")
    assert "hits_total" in set(scraped["name"])
    assert app.data.quiesce_outcome == "quiet"


def test_a_taken_fixed_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        app = make_app(tmp_path, plain_scenario(tmp_path, app=f"  port: {port}\n"))
        with pytest.raises(LaunchError, match=f"port {port} .* already in use"):
            app.start()
    assert app.receiver is None and app.collectors == []
    assert app.stop() is app.data
