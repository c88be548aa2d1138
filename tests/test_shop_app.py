"""The bundled example app: its fixes apply as git patches, it boots, serves and exports OTLP."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SHOP = Path(__file__).resolve().parents[1] / "scenarios" / "shop"
FIXES = ["add-to-cart", "checkout-n-plus-one", "startup", "error-log"]
ALL_PATCHES = [*FIXES, "checkout-wrong"]
BOOT_DEADLINE_S = 30.0
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           *args], cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture
def seeded_repo(tmp_path: Path) -> Path:
    """A git repository laid out like the demo: app/ at the root, one commit."""
    repo = tmp_path / "repo"
    shutil.copytree(SHOP / "app", repo / "app",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for scenario in SHOP.glob("*.yaml"):
        shutil.copy(scenario, repo)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "seeded"]):
        assert _git(repo, *args).returncode == 0
    return repo


class Collector(ThreadingHTTPServer):
    """A stdlib OTLP/HTTP sink recording (path, body) of every POST."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), _CollectorHandler)

    def bodies(self, path: str) -> list[bytes]:
        return [body for p, body in self.posts if p == path]


class _CollectorHandler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Shop:
    """The app as a subprocess in its own process group; stdout lines are parsed as JSON."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "app/shop.py", "--port", "0"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[dict[str, Any]] = []  # every stdout line, parsed: all must be JSON
        self._reader = threading.Thread(target=self._read, name="shop-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_ready(self) -> str:
        """Wait for the 'shop ready' line, then for /healthz 200; returns the base URL."""
        deadline = time.monotonic() + BOOT_DEADLINE_S
        port = None
        while port is None:
            assert time.monotonic() < deadline, "no 'shop ready' line"
            assert self.proc.poll() is None, f"app exited with {self.proc.returncode}"
            try:
                line = json.loads(self.lines.get(timeout=0.1))
            except queue.Empty:
                continue
            self.seen.append(line)
            if line["message"] == "shop ready":
                port = line["port"]
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as client:
            while client.get("/healthz").status_code != 200:
                assert time.monotonic() < deadline, "/healthz never returned 200"
        return base

    def stop(self) -> int:
        os.killpg(self.proc.pid, signal.SIGTERM)
        code = self.proc.wait(timeout=BOOT_DEADLINE_S)
        self._reader.join(timeout=BOOT_DEADLINE_S)
        while not self.lines.empty():
            self.seen.append(json.loads(self.lines.get()))
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _env(endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if endpoint:
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="shop-test",
                   OTEL_BSP_SCHEDULE_DELAY="200", OTEL_METRIC_EXPORT_INTERVAL="200",
                   OTEL_BLRP_SCHEDULE_DELAY="200")
    return env


@pytest.mark.parametrize("patch", ALL_PATCHES)
def test_each_patch_applies_to_the_seeded_app(seeded_repo: Path, patch: str) -> None:
    result = _git(seeded_repo, "apply", "--check", str(SHOP / "fixes" / f"{patch}.patch"))
    assert result.returncode == 0, result.stderr


def test_the_four_fixes_apply_together(seeded_repo: Path) -> None:
    for patch in FIXES:
        result = _git(seeded_repo, "apply", str(SHOP / "fixes" / f"{patch}.patch"))
        assert result.returncode == 0, (patch, result.stderr)
    assert "discount.percent" in (seeded_repo / "app/static/app.js").read_text()


def test_seeded_app_serves_and_exports_otlp(seeded_repo: Path, collector: Collector) -> None:
    shop = Shop(seeded_repo, _env(f"http://127.0.0.1:{collector.server_port}"))
    try:
        base = shop.wait_ready()
        traceparent = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
        with httpx.Client(base_url=base) as client:
            products = client.get("/api/products", headers={"traceparent": traceparent})
            metrics = client.get("/metrics")
            order = client.post("/api/checkout", json={"items": [{"product_id": 1, "qty": 2}]})
        assert products.status_code == 200
        assert len(products.json()["products"]) == 40
        assert 'shop_requests_total{method="GET",route="/api/products",status="200"}' \
            in metrics.text
        assert "shop_request_duration_seconds_bucket" in metrics.text
        assert order.status_code == 200 and order.json()["total"] > 0
        assert shop.stop() == 0
    finally:
        shop.kill()

    paths = {path for path, _ in collector.posts}
    assert {"/v1/traces", "/v1/metrics", "/v1/logs"} <= paths
    spans = []
    for body in collector.bodies("/v1/traces"):
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    server = [s for s in spans if s.name == "GET /api/products"]
    assert len(server) == 1
    assert server[0].trace_id.hex() == TRACE_ID  # the incoming traceparent was extracted
    assert server[0].parent_span_id.hex() == PARENT_SPAN_ID
    children = [s for s in spans if s.parent_span_id == server[0].span_id]
    assert [s.name for s in children] == ["db.query"]
    assert any(s.name == "POST /api/checkout" for s in spans)


def test_fixed_app_boots_searches_and_logs_no_errors(seeded_repo: Path) -> None:
    for patch in FIXES:
        assert _git(seeded_repo, "apply", str(SHOP / "fixes" / f"{patch}.patch")).returncode == 0
    shop = Shop(seeded_repo, _env(None))
    try:
        base = shop.wait_ready()
        with httpx.Client(base_url=base) as client:
            assert client.get("/api/products").status_code == 200
            found = client.get("/api/search", params={"q": "backpak"}).json()["results"]
            added = client.post("/api/cart", json={"product_id": 3, "qty": 2}).json()
            order = client.post("/api/checkout", json={"items": [
                {"product_id": i, "qty": 1} for i in range(1, 11)]})
        assert found and all("Backpack" in r["name"] for r in found[:3])
        assert added["count"] == 2
        assert order.status_code == 200
        assert shop.stop() == 0
    finally:
        shop.kill()
    levels = {line["level"] for line in shop.seen}
    assert levels == {"info"}, [line for line in shop.seen if line["level"] != "info"]
    routed = [line for line in shop.seen if line["route"] == "/api/checkout"]
    assert routed and all(len(line["trace_id"]) == 32 for line in routed)
