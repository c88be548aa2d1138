"""Browser SLIs (cleanloop.loop.model.sli_browser) over hand-made browser tables, and over a
real page."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from cleanloop.loop.base.schema import BROWSER, Columns, append_columns
from cleanloop.loop.model import sli_browser
from cleanloop.loop.model.checks import SliRef, parse_check
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import BrowserOptions
from cleanloop.loop.model.sli import SliRegistry
from cleanloop.loop.model.sli_sources import default_registry
from cleanloop.loop.model.steps import Step, StepResult
from cleanloop.probes.browser import BrowserSession
from tests.probes.pages.server import PageServer

BASE = "http://127.0.0.1:8000"


def row(kind: str, **values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {name: None for name in BROWSER.names}
    out.update(kind=kind, repeat=0, **values)
    return out


ROWS = [
    row("console", level="error", text="checkout widget failed", url=f"{BASE}/"),
    row("console", level="error", text="Failed to load resource: 500", url=f"{BASE}/api/fail"),
    row("console", level="warning", text="careful"),
    row("console", level="info", text="hello"),
    row("console", level="log", text="plain log"),
    row("console", level="debug", text="noise"),
    row("pageerror", level="error", text="cart is undefined"),
    row("request", url=f"{BASE}/", method="GET", status=200, duration_ms=10.0, size=100),
    row("request", url=f"{BASE}/api/cart?id=1", method="GET", status=200, duration_ms=20.0,
        size=50),
    row("request", url=f"{BASE}/api/cart", method="POST", status=201, duration_ms=40.0, size=5),
    row("request", url=f"{BASE}/api/fail", method="GET", status=500, duration_ms=30.0, size=2),
    row("requestfailed", url="http://127.0.0.1:9/x", method="GET", text="net::ERR_FAILED"),
    row("vital", name="LCP", value=120.0, url=f"{BASE}/"),
    row("vital", name="LCP", value=300.0, url=f"{BASE}/checkout"),
    row("vital", name="CLS", value=0.05, url=f"{BASE}/"),
    row("navigation", name="ttfb", value=8.0, url=f"{BASE}/"),
    row("cdp_metrics", name="JSHeapUsedSize", value=1000.0, ts_ns=1),
    row("cdp_metrics", name="JSHeapUsedSize", value=4000.0, ts_ns=3),
    row("cdp_metrics", name="JSHeapUsedSize", value=2500.0, ts_ns=2),
]
STEPS = [
    StepResult(index=0, kind="browser", name="open", ok=True, duration_ms=50.0),
    StepResult(index=1, kind="browser", name="add-to-cart", ok=True, duration_ms=12.5),
    StepResult(index=2, kind="http", name="checkout", ok=False, duration_ms=7.0),
]


def sli(text: str) -> SliRef:
    return parse_check(f"{text} >= 0").sli


@pytest.fixture
def registry() -> SliRegistry:
    registry = SliRegistry()
    sli_browser.register(registry)
    return registry


@pytest.fixture
def run() -> RunData:
    return RunData(repeat=0, tables={"browser": pd.DataFrame(ROWS)}, steps=list(STEPS))


@pytest.mark.parametrize(("text", "expected"), [
    ("console.errors", 3.0),  # two console errors + one uncaught page error
    ("console.warnings", 1.0),
    ("console.count", 7.0),                     # the uncaught page error is a console entry
    ("console(level >= warning).count", 4.0),
    ("console(level >= error).count", 3.0),
    ("console(level >= info).count", 6.0),
    ("console(level == info).count", 2.0),      # log and info share a level
    ('console("checkout*").count', 1.0),
    ('console(text ~ "^Failed to load").errors', 1.0),
    ("page.errors", 1.0),
    ("requests.count", 5.0),
    ("requests(status >= 400).count", 2.0),     # the 500 and the refused request
    ("requests(status == 500).count", 1.0),
    ("requests(status < 400).count", 3.0),
    ("requests.errors", 2.0),
    ("requests.failed", 1.0),
    ('request("/api/cart").count', 2.0),
    ('request("/api/cart").duration.max', 40.0),
    ('request("/api/cart").duration.mean', 30.0),
    ('request("/api/cart").p50', 30.0),
    ('request("POST /api/cart").duration.p95', 40.0),
    ('request("/api/*").errors', 1.0),
    ('request("/api/cart", method == "GET").size.max', 50.0),
    ('request("http://127.0.0.1:9/*").failed', 1.0),
    ("vitals.lcp", 300.0),
    ('vitals("/").lcp', 300.0),                 # substring: every path contains "/"
    ('vitals("/checkout").lcp', 300.0),
    ("vitals.cls", 0.05),
    ("navigation.ttfb", 8.0),
    ('cdp("JSHeapUsedSize").last', 4000.0),
    ('cdp("JSHeapUsedSize").delta', 3000.0),
    ('cdp("JSHeapUsedSize").max', 4000.0),
    ('step("add-to-cart").duration', 12.5),
    ('step("checkout").ok', 0.0),
    ("step(*).failed", 1.0),
])
def test_browser_slis(registry: SliRegistry, run: RunData, text: str, expected: float) -> None:
    assert registry.evaluate(run, sli(text)) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    "vitals.inp", 'request("/nothing").duration.p95', 'step("missing").duration',
    'cdp("Nodes").last',
])
def test_missing_data_is_none(registry: SliRegistry, run: RunData, text: str) -> None:
    assert registry.evaluate(run, sli(text)) is None


@pytest.mark.parametrize("text", [
    "console.errors", "console(level >= error).count", "page.errors",
    "requests(status >= 400).count", "requests.count", "requests.errors",
])
def test_a_run_without_browser_data_has_no_data_not_zero(registry: SliRegistry,
                                                         text: str) -> None:
    """No browser page at all (no browser step, or nothing recorded) must never pass
    `console.errors == 0`: it is no data."""
    assert registry.evaluate(RunData(repeat=0, tables={}), sli(text)) is None
    empty = RunData(repeat=0, tables={"browser": pd.DataFrame(columns=BROWSER.names)})
    assert registry.evaluate(empty, sli(text)) is None


@pytest.mark.parametrize(("text", "expected"), [
    ('console("no such text").count', 0.0),     # a count over browser data: 0 is a value
    ("requests(status == 418).count", 0.0),
    ('request("/typo").count', 0.0),
    ('request("/typo").errors', None),          # errors among no matched request: no data
    ('request("/typo").failed', None),
])
def test_counts_over_an_empty_selection_of_real_browser_data(
        registry: SliRegistry, run: RunData, text: str, expected: float | None) -> None:
    assert registry.evaluate(run, sli(text)) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("console.fatal", "unknown '.fatal'"),
    ("console", "say what to measure"),
    ("vitals.speed", "unknown '.speed'"),
    ('request("/x").duration.p42', "unknown '.duration.p42'"),
    ('request("/x").latency', "unknown '.latency'"),
    ("console(colour == red).count", "cannot filter on 'colour'"),
    ("console(level >= loud).count", "unknown level 'loud'"),
    ('request("/a", "/b").count', "takes one URL pattern"),
    ("cdp.last", "name a metric"),
])
def test_unknown_attributes_raise_value_error(registry: SliRegistry, text: str,
                                              fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        registry.validate(sli(text))
    assert fragment in str(info.value)


def test_step_falls_back_to_browser_step_rows(registry: SliRegistry) -> None:
    rows = [row("step", text="add-to-cart", duration_ms=9.0,
                attributes=json.dumps({"ok": False}))]
    run = RunData(repeat=0, tables={"browser": pd.DataFrame(rows)})
    assert registry.evaluate(run, sli('step("add-to-cart").duration')) == 9.0
    assert registry.evaluate(run, sli('step("add-to-cart").ok')) == 0.0


def test_an_uncaught_exception_is_a_console_error_at_its_throwing_frame(
        registry: SliRegistry) -> None:
    """Narrowing a console SLI by level, url or location keeps uncaught exceptions."""
    rows = [row("console", level="warning", text="careful", url=f"{BASE}/",
                location=f"{BASE}/:6:9"),
            row("pageerror", level="error", url=f"{BASE}/",
                text="TypeError: Cannot read properties of undefined (reading 'amount')",
                location=f"{BASE}/static/controller.js:4:21",
                stack=f"TypeError: ...\n    at addToCart ({BASE}/static/controller.js:4:21)"),
            row("pageerror", level="error", text="page crashed (renderer process gone)",
                url=f"{BASE}/checkout")]
    run = RunData(repeat=0, tables={"browser": pd.DataFrame(rows)})
    assert registry.evaluate(run, sli("console.errors")) == 2.0
    assert registry.evaluate(run, sli("console(level >= error).count")) == 2.0
    assert registry.evaluate(run, sli("console(level == error).count")) == 2.0
    assert registry.evaluate(run, sli('console(location ~ "controller").count')) == 1.0
    assert registry.evaluate(run, sli('console(url ~ "controller\\.js$").errors')) == 1.0
    # without a frame in its stack, an exception keeps the page's URL
    assert registry.evaluate(run, sli('console(url ~ "/checkout").count')) == 1.0
    assert registry.evaluate(run, sli('console(level >= error, location ~ "cart").count')) == 0.0
    # page.errors keeps the page's URL: the document that threw
    assert registry.evaluate(run, sli('page(url ~ "controller").errors')) == 0.0


@pytest.mark.browser
def test_real_uncaught_type_error_in_a_script_file_survives_console_filters(
        tmp_path: Path) -> None:
    """A real Chromium page loading controller.js, which throws an uncaught TypeError."""
    pages = PageServer()
    try:
        with BrowserSession(BrowserOptions(timeout_s=5.0), os.environ) as session, \
                session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=0) as run:
            steps = [Step(kind="browser", index=0, line=10, name="open",
                          params={"goto": "/controller.html"}, source="scenario.yaml"),
                     Step(kind="browser", index=1, line=11, name="done",
                          params={"wait_for": {"selector": "body[data-done]"}},
                          source="scenario.yaml")]
            results = [run.run_step(step) for step in steps]
            assert all(r.ok for r in results), [r.message for r in results]
            columns: Columns = {}
            deadline = time.monotonic() + 10.0
            while "pageerror" not in columns.get("kind", []):
                assert time.monotonic() < deadline, f"no page error recorded: {columns}"
                append_columns(columns, run.drain()["browser"])
                run.page.evaluate("new Promise((r) => setTimeout(r, 20))")  # pump events
            run.close()
            append_columns(columns, run.drain()["browser"])
    finally:
        pages.close()
    n = len(columns["kind"])
    table = pa.Table.from_pydict({**columns, "repeat": [0] * n}, schema=BROWSER).to_pandas()
    [thrown] = table[table["kind"] == "pageerror"].to_dict("records")
    assert thrown["text"].startswith("TypeError: ")
    assert thrown["location"].startswith(f"{pages.base_url}/controller.js:4:")

    registry = default_registry()
    data = RunData(repeat=0, tables={"browser": table}, steps=results)

    def value(text: str) -> float | None:
        return registry.evaluate(data, sli(text))

    assert value("console.errors") == 1.0
    assert value("console(level >= error).count") == 1.0
    assert value('console(level >= error, location ~ "controller").count') == 1.0
    assert value('console(level >= error, url ~ "controller\\.js").count') == 1.0
    assert value('console(level >= error, location ~ "checkout").count') == 0.0
    assert value("console(level >= warning).count") == 2.0   # the inline warning too
