"""The Prometheus scraper against a real prometheus_client exposition server."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cleanloop.collectors.prometheus_scraper import PrometheusScraper
from cleanloop.loop.base.schema import Columns
from tests.waiting import wait_until


@pytest.fixture
def metrics_url() -> Iterator[str]:
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests served", ["route"], registry=registry)
    requests.labels(route="/cart").inc(3)
    Gauge("queue_depth", "Queued jobs", registry=registry).set(7)
    latency = Histogram("latency_seconds", "Latency", buckets=(0.1, 1.0), registry=registry)
    for value in (0.05, 0.5, 0.7, 3.0):
        latency.observe(value)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


_wait_until = wait_until


def _last_scrape(cols: Columns) -> list[tuple[str, str, str, str, float, float]]:
    last = max(cols["ts_ns"])
    return [(n, s, t, lab, le, v) for ts, n, s, t, lab, le, v in zip(
        cols["ts_ns"], cols["name"], cols["sample"], cols["type"], cols["labels"], cols["le"],
        cols["value"], strict=True) if ts == last]


def test_periodic_scrapes_then_a_final_one(metrics_url: str) -> None:
    scraper = PrometheusScraper(metrics_url, interval_s=0.02)
    scraper.start()
    assert _wait_until(lambda: scraper.stats()["scrapes"] >= 2)
    before_stop = scraper.stats()["scrapes"]
    scraper.stop(time.monotonic() + 10.0)
    scraper.stop(time.monotonic() + 10.0)  # idempotent
    stats = scraper.stats()
    assert stats["scrapes"] >= before_stop + 1  # the final scrape
    assert stats["failed"] == 0
    cols = scraper.drain()["metrics"]
    assert set(cols["source"]) == {"prometheus"}
    assert len({len(v) for v in cols.values()}) == 1
    rows = _last_scrape(cols)
    counter = [r for r in rows if r[0] == "requests" and r[1] == "requests_total"]
    assert [(t, json.loads(lab), v) for _, _, t, lab, _, v in counter] == \
        [("counter", {"route": "/cart"}, 3.0)]
    assert [(t, v) for n, s, t, _, _, v in rows if s == "queue_depth"] == [("gauge", 7.0)]
    buckets = [(le, v) for n, s, _, lab, le, v in rows if s == "latency_seconds_bucket"]
    assert buckets == [(0.1, 1.0), (1.0, 3.0), (math.inf, 4.0)]
    hist = {s: (t, lab, le, v) for n, s, t, lab, le, v in rows if n == "latency_seconds"}
    assert hist["latency_seconds_count"][0] == "histogram"
    assert hist["latency_seconds_count"][3] == 4.0
    assert hist["latency_seconds_sum"][3] == pytest.approx(4.25)
    assert math.isnan(hist["latency_seconds_sum"][2])
    assert all(lab == "{}" for _, s, _, lab, _, _ in rows if s.startswith("latency_seconds"))
    assert scraper.drain()["metrics"]["value"] == []


def test_stop_without_start_still_scrapes_once(metrics_url: str) -> None:
    scraper = PrometheusScraper(metrics_url)
    scraper.stop(time.monotonic() + 10.0)
    assert scraper.stats()["scrapes"] == 1
    assert "queue_depth" in scraper.drain()["metrics"]["sample"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_failed_scrapes_are_counted_not_raised() -> None:
    scraper = PrometheusScraper(f"http://127.0.0.1:{_closed_port()}/metrics", timeout_s=2.0)
    assert scraper.scrape_once() is False
    assert scraper.scrape_once() is False
    scraper.stop(time.monotonic() + 10.0)
    stats = scraper.stats()
    assert (stats["failed"], stats["scrapes"], stats["received"]) == (3, 3, 0)
    assert scraper.drain()["metrics"]["value"] == []


class _Canned(BaseHTTPRequestHandler):
    """Answers every GET with the status and body named by the path: /500, /garbage."""

    def do_GET(self) -> None:
        status, body = (500, b"oops") if self.path == "/500" else (200, b"{not: prometheus}\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canned_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize("path", ["/500", "/garbage"])
def test_error_status_or_unparsable_text_is_a_failed_scrape(canned_url: str, path: str) -> None:
    scraper = PrometheusScraper(canned_url + path)
    assert scraper.scrape_once() is False
    scraper.stop(time.monotonic() + 10.0)
    assert (scraper.stats()["failed"], scraper.stats()["scrapes"]) == (2, 2)
    assert scraper.drain()["metrics"]["value"] == []


def test_row_cap_drops_and_counts(metrics_url: str) -> None:
    scraper = PrometheusScraper(metrics_url, max_rows=3)
    assert scraper.scrape_once()
    stats = scraper.stats()
    assert stats["received"] == 3 and stats["dropped"] > 0
    assert len(scraper.drain()["metrics"]["value"]) == 3
    scraper.stop(time.monotonic() + 1.0)
