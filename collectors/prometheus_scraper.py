"""Scrape a Prometheus text endpoint on an interval into the `metrics` table.

    scraper = PrometheusScraper("http://127.0.0.1:8000/metrics", interval_s=1.0)
    scraper.start()
    ...
    scraper.stop(deadline)          # one final scrape if time allows, then stop
    rows = scraper.drain()["metrics"]

One row per sample: `name` = family name, `sample` = sample name (`_bucket`, `_sum`,
`_count`, `_total` ...), `type` = family type (untyped -> unknown), `labels` = JSON
of the labels without `le` (sorted keys), `le` = bucket bound for `_bucket` samples
(NaN otherwise), `ts_ns` = scrape time. A failed scrape is counted and logged, never raised.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from cleanloop.loop.base.http_client import loopback_client
from cleanloop.loop.base.schema import Columns

logger = logging.getLogger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"
_COLUMNS = ("ts_ns", "source", "name", "sample", "type", "labels", "le", "value")


def _empty() -> Columns:
    return {c: [] for c in _COLUMNS}


def _bucket_bound(labels: Mapping[str, str]) -> float:
    try:
        return float(labels["le"])  # "+Inf" parses as inf
    except (KeyError, ValueError):
        return math.nan


class PrometheusScraper:
    """Collector (name "prometheus") polling one /metrics URL from a named daemon thread."""

    name = "prometheus"

    def __init__(self, url: str, interval_s: float = 1.0, timeout_s: float = 2.0,
                 http: httpx.Client | None = None, max_rows: int = 2_000_000) -> None:
        self.url = url
        self.interval_s, self.timeout_s, self.max_rows = interval_s, timeout_s, max_rows
        self._own_http = http is None
        self._http = http if http is not None else loopback_client()
        self._lock = threading.Lock()
        self._rows = _empty()
        self._counts = {"scrapes": 0, "failed": 0, "received": 0, "dropped": 0}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cleanloop-prometheus",
                                        daemon=True)
        self._closed = False
        self._failing = False

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stopping.is_set():
            self._thread.start()
            logger.info("Prometheus scraper polling %s every %.3gs", self.url, self.interval_s)

    def _run(self) -> None:
        # the first scrape waits one interval: the app is usually still booting at start()
        while not self._stopping.wait(self.interval_s):
            self.scrape_once()

    def stop(self, deadline: float) -> None:
        """Stop polling, then scrape one final time when the deadline leaves room for it."""
        if self._closed:
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        left = deadline - time.monotonic()
        if left > 0 and not self._thread.is_alive():
            self.scrape_once(timeout=min(self.timeout_s, left))
        else:
            logger.warning("Prometheus scraper: no time left for a final scrape of %s", self.url)
        self._closed = True
        if self._own_http:
            self._http.close()
        logger.info("Prometheus scraper stopped: %s", dict(self.stats()))

    def drain(self) -> dict[str, Columns]:
        with self._lock:
            rows, self._rows = self._rows, _empty()
        return {"metrics": rows}

    def row_count(self) -> int:
        """Metric rows scraped so far and not drained."""
        with self._lock:
            return len(self._rows["value"])

    def peek(self, start: int = 0) -> Columns:
        """A copy of the metric rows from row `start` on, without draining them."""
        with self._lock:
            return {name: values[start:] for name, values in self._rows.items()}

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self._counts)

    def scrape_once(self, timeout: float | None = None) -> bool:
        """GET the endpoint once and store its samples. False (counted, logged) on failure."""
        if self._closed:
            return False
        ts_ns = time.time_ns()
        try:
            response = self._http.get(self.url, headers={"Accept": ACCEPT},
                                      timeout=self.timeout_s if timeout is None else timeout)
            response.raise_for_status()
            families = self._parse(response)
            columns = self._columns(families, ts_ns)
        except Exception as exc:  # never raised: a collector must not sink the run
            self._failed(exc)
            return False
        self._store(columns)
        if self._failing:
            logger.info("Prometheus scraper: %s answers again", self.url)
        self._failing = False
        logger.debug("Prometheus scrape of %s: %d samples", self.url, len(columns["value"]))
        return True

    @staticmethod
    def _parse(response: httpx.Response) -> list[Metric]:
        text = response.text
        if "openmetrics" in response.headers.get("Content-Type", ""):
            # prometheus_client's OpenMetrics parser has no annotations
            return list(openmetrics_families(text))  # type: ignore[no-untyped-call]
        return list(text_string_to_metric_families(text))

    @staticmethod
    def _columns(families: Iterable[Metric], ts_ns: int) -> Columns:
        out = _empty()
        names, samples, types, labels, les, values = (
            out["name"], out["sample"], out["type"], out["labels"], out["le"], out["value"])
        label_text: dict[tuple[tuple[str, str], ...], str] = {}
        for family in families:
            kind = "unknown" if family.type == "untyped" else family.type
            for s in family.samples:
                names.append(family.name)
                samples.append(s.name)
                types.append(kind)
                les.append(_bucket_bound(s.labels) if s.name.endswith("_bucket") else math.nan)
                values.append(float(s.value))
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                text = label_text.get(key)
                if text is None:
                    text = label_text[key] = json.dumps(dict(key), separators=(",", ":"))
                labels.append(text)
        n = len(values)
        out["ts_ns"] = [ts_ns] * n
        out["source"] = ["prometheus"] * n
        return out

    def _store(self, columns: Columns) -> None:
        n = len(columns["value"])
        with self._lock:
            self._counts["scrapes"] += 1
            room = self.max_rows - len(self._rows["value"])
            if room < n:
                self._counts["dropped"] += n - max(room, 0)
                columns = {c: v[:max(room, 0)] for c, v in columns.items()}
                n = max(room, 0)
            for c, values in columns.items():
                self._rows[c].extend(values)
            self._counts["received"] += n

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._counts["scrapes"] += 1
            self._counts["failed"] += 1
        log = logger.debug if self._failing else logger.warning
        log("Prometheus scrape of %s failed: %s", self.url, _describe(exc))
        self._failing = True


def _describe(exc: Any) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
