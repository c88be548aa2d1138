"""The browser probe against a real Chromium and purpose-built pages (tests/probes/pages)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.base.schema import BROWSER, Columns, append_columns
from cleanloop.loop.model import sli_browser
from cleanloop.loop.model.checks import parse_check
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import BrowserOptions
from cleanloop.loop.model.sli import SliRegistry
from cleanloop.loop.model.steps import Step
from cleanloop.probes.browser import BrowserRun, BrowserSession
from cleanloop.probes.browser_process import group_members, read_proc
from tests.conftest import descendants
from tests.probes.pages.server import PageServer, closed_port
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def bstep(index: int, params: dict[str, Any], *, line: int = 0) -> Step:
    action = next(key for key in params if key != "timeout")
    return Step(kind="browser", index=index, line=line or 10 + index, name=f"browser:{action}",
                params=params, source="scenario.yaml")


def rows(columns: Columns, kind: str | None = None) -> list[dict[str, Any]]:
    names = list(columns)
    table = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(),
                                                                      strict=True)]
    return [row for row in table if kind is None or row["kind"] == kind]


class Collected:
    """Accumulates drained rows; `until()` pumps browser events while polling."""

    def __init__(self, run: BrowserRun) -> None:
        self.run = run
        self.columns: Columns = {}

    def drain(self) -> list[dict[str, Any]]:
        append_columns(self.columns, self.run.drain()["browser"])
        return rows(self.columns)

    def until(self, predicate: Callable[[list[dict[str, Any]]], bool],
              timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            table = self.drain()
            if predicate(table):
                return table
            assert time.monotonic() < deadline, "condition not met; rows: " + json.dumps(
                [(r["kind"], r["text"], r["url"]) for r in table])[:2000]
            self.run.page.evaluate("new Promise((r) => setTimeout(r, 20))")


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    with BrowserSession(BrowserOptions(timeout_s=5.0), os.environ) as started:
        yield started
    assert started.pgid is not None and group_members(started.pgid) == []


@pytest.fixture(autouse=True)
def no_orphan_processes(session: BrowserSession) -> Iterator[None]:
    """tests/conftest.py's check, except for the module's shared browser (its process
    group starts renderers and services lazily); the session fixture checks that group."""
    assert session.pgid is not None

    def ours() -> set[int]:
        # one fresh read per process: a renderer exiting between two scans is not "left"
        return {pid for pid in descendants(os.getpid())
                if (info := read_proc(pid)) is not None and info.pgid != session.pgid
                and info.state not in ("Z", "X")}

    before = ours()
    yield
    wait_until(lambda: not (ours() - before), 5.0)
    left = ours() - before
    assert not left, f"the test left child processes running: {sorted(left)}"


@pytest.fixture
def run(session: BrowserSession, pages: PageServer, tmp_path: Path) -> Iterator[BrowserRun]:
    opened = session.open(base_url=pages.base_url, artifacts_dir=tmp_path, repeat=0)
    yield opened
    opened.close()


def test_rows_have_exactly_the_schema_columns_without_repeat(run: BrowserRun) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    columns = run.drain()["browser"]
    assert list(columns) == [name for name in BROWSER.names if name != "repeat"]
    assert len({len(values) for values in columns.values()}) == 1


def test_console_messages_and_page_errors_carry_source_locations(
    run: BrowserRun, pages: PageServer,
) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    assert run.run_step(bstep(1, {"goto": "/error.html"})).ok
    table = Collected(run).until(lambda t: any(r["kind"] == "pageerror" for r in t))

    console = [r for r in table if r["kind"] == "console"]
    error = next(r for r in console if r["level"] == "error")
    assert error["text"] == "checkout widget failed to render"
    assert error["location"].startswith(f"{pages.base_url}/index.html:12:")
    assert error["step"] == 0
    warning = next(r for r in console if r["level"] == "warning")
    assert warning["text"] == "careful: low stock"
    assert warning["location"].startswith(f"{pages.base_url}/index.html:11:")

    page_error = next(r for r in table if r["kind"] == "pageerror")
    assert page_error["text"] == "TypeError: cart is undefined"
    assert "brokenHandler" in page_error["stack"]
    assert page_error["location"].startswith(f"{pages.base_url}/error.html:8:")
    assert json.loads(page_error["attributes"]) == {"name": "TypeError"}


def test_failed_requests_500_and_connection_refused(run: BrowserRun, pages: PageServer) -> None:
    assert run.run_step(bstep(0, {"goto": "/network.html"})).ok
    assert run.run_step(bstep(1, {"wait_for": {"text": "done 500"}})).ok
    port = closed_port()
    fetch = f"fetch('http://127.0.0.1:{port}/nothing').then(() => 'ok', (e) => String(e))"
    result = run.run_step(bstep(2, {"evaluate": fetch}))
    assert result.ok and "Failed to fetch" in result.evidence["result"]

    table = Collected(run).until(lambda t: any(r["kind"] == "requestfailed" for r in t)
                                 and any(r["kind"] == "request" and r["status"] == 500
                                         for r in t))
    failed = next(r for r in table if r["kind"] == "request" and r["status"] == 500)
    assert failed["url"] == f"{pages.base_url}/api/fail"
    assert failed["method"] == "GET" and failed["duration_ms"] >= 0 and failed["size"] > 0
    refused = next(r for r in table if r["kind"] == "requestfailed")
    assert refused["url"] == f"http://127.0.0.1:{port}/nothing"
    assert "ERR_CONNECTION_REFUSED" in refused["text"]
    assert refused["trace_id"] is None  # another origin: no traceparent injected
    assert refused["step"] == 2


def test_traceparent_is_injected_for_the_app_origin_only(
    run: BrowserRun, pages: PageServer,
) -> None:
    other = PageServer()
    try:
        assert run.run_step(bstep(0, {"goto": "/network.html"})).ok
        assert run.run_step(bstep(1, {"wait_for": {"text": "done 500 00-"}})).ok
        fetch = f"fetch('{other.base_url}/api/traceparent').then((r) => r.json())"
        assert run.run_step(bstep(2, {"evaluate": fetch})).evidence["result"] == {
            "traceparent": None}
        table = Collected(run).until(lambda t: sum(r["kind"] == "request" for r in t) >= 4)
    finally:
        other.close()
    assert other.traceparents("/api/traceparent") == [None]

    by_url = {r["url"]: r for r in table if r["kind"] == "request"}
    echo = by_url[f"{pages.base_url}/api/traceparent"]
    assert HEX32.match(echo["trace_id"])
    (header,) = pages.traceparents("/api/traceparent")[-1:]
    assert header is not None
    assert re.fullmatch(rf"00-{echo['trace_id']}-[0-9a-f]{{16}}-01", header)
    document = by_url[f"{pages.base_url}/network.html"]
    assert document["trace_id"] != echo["trace_id"] and HEX32.match(document["trace_id"])
    assert by_url[f"{other.base_url}/api/traceparent"]["trace_id"] is None


def test_vitals_navigation_timing_cdp_metrics_and_step_rows(run: BrowserRun) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    deadline = time.monotonic() + 10
    while run.page.evaluate("window.__cleanloopVitals.snapshot().lcp") is None:
        assert time.monotonic() < deadline, "no LCP entry"
        run.page.evaluate("new Promise((r) => setTimeout(r, 20))")
    assert run.run_step(bstep(1, {"click": "#add"})).ok
    table = Collected(run).drain()

    vitals = {r["name"]: r for r in table if r["kind"] == "vital"}
    assert vitals["LCP"]["value"] > 0 and vitals["FCP"]["value"] > 0
    assert vitals["CLS"]["value"] >= 0
    assert vitals["LCP"]["url"].endswith("/index.html") and vitals["LCP"]["step"] == 0
    navigation = {r["name"]: r["value"] for r in table if r["kind"] == "navigation"}
    assert navigation["load"] >= navigation["domContentLoaded"] >= navigation["ttfb"] > 0
    metrics = [r for r in table if r["kind"] == "cdp_metrics"]
    assert {r["step"] for r in metrics} == {0, 1}
    assert all(r["value"] > 0 for r in metrics if r["name"] in ("JSHeapUsedSize", "Nodes"))
    steps = [r for r in table if r["kind"] == "step"]
    assert [(r["text"], r["name"], r["step"]) for r in steps] == [
        ("browser:goto", "goto", 0), ("browser:click", "click", 1)]
    assert all(r["duration_ms"] > 0 for r in steps)


def test_slow_click_handler_shows_in_inp_and_tbt(run: BrowserRun) -> None:
    assert run.run_step(bstep(0, {"goto": "/slow.html"})).ok
    assert run.run_step(bstep(1, {"click": "#slow"})).ok
    deadline = time.monotonic() + 10
    while run.page.evaluate("window.__cleanloopVitals.snapshot().inp") is None:
        assert time.monotonic() < deadline, "no INP entry"
        run.page.evaluate("new Promise((r) => setTimeout(r, 20))")
    assert run.run_step(bstep(2, {"expect_text": {"selector": "#done", "text": "clicked"}})).ok
    vitals = {r["name"]: r["value"] for r in Collected(run).drain() if r["kind"] == "vital"}
    assert vitals["INP"] >= 100  # the handler blocks the main thread for 150 ms
    assert vitals["TBT"] >= 50


def test_failed_expectation_is_a_check_with_screenshot_dom_and_aria(
    run: BrowserRun, tmp_path: Path,
) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    assert run.run_step(bstep(1, {"click": "#add"})).ok
    passing = bstep(2, {"expect_text": {"selector": "#cart-count", "text": "1", "exact": True}})
    assert run.run_step(passing).ok
    failing = bstep(3, {"expect_text": {"selector": "#cart-count", "text": "3"}, "timeout": 0.5})
    result = run.run_step(failing)

    assert not result.ok and result.is_check
    assert "step #3 (expect_text) at scenario.yaml:13: expectation failed" in result.message
    assert "3" in result.message
    shot, dom, aria = (Path(result.evidence[key]) for key in ("screenshot", "dom", "aria"))
    assert shot == tmp_path / "screenshots" / "r0-s3-failure.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'id="cart-count">1<' in dom.read_text(encoding="utf-8")
    assert 'heading "Shop front page"' in aria.read_text(encoding="utf-8")
    # only the first failure of a run is captured automatically
    again = run.run_step(bstep(4, {"expect_visible": "#missing", "timeout": 0.3}))
    assert not again.ok and again.is_check and "screenshot" not in again.evidence


def test_step_timeout_names_step_index_line_and_target(run: BrowserRun) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    step = Step(kind="browser", index=3, line=12, name="browser:click",
                params={"click": "#nope", "timeout": 0.3}, source="scenario.yaml")
    result = run.run_step(step)
    assert not result.ok and not result.is_check
    assert result.message == ("step #3 (click) at scenario.yaml:12 timed out after 0.3s "
                              "waiting for '#nope'")


def test_form_actions_screenshot_snapshot_and_evaluate(run: BrowserRun, tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [
        {"goto": "/form.html"},
        {"fill": {"selector": "#q", "value": "hello"}},
        {"select": {"selector": "#size", "value": "l"}},
        {"hover": "#hover-target"},
        {"press": {"selector": "#q", "key": "Enter"}},
        {"wait_for": {"text": "hello/l"}},
        {"expect_text": {"selector": "#hover-target", "text": "hovered"}},
        {"expect_count": {"selector": "option", "count": 2}},
        {"expect_visible": "#go"},
        {"screenshot": {"name": "after submit", "full_page": True}},
        {"snapshot": "form"},
        {"evaluate": "document.querySelector('#out').textContent"},
        {"wait_for": {"network_idle": True}},
        {"wait_for": {"url": "**/form.html"}},
    ]
    results = [run.run_step(bstep(i, params)) for i, params in enumerate(steps)]
    assert [r.message for r in results if not r.ok] == []
    assert results[0].evidence["status"] == 200
    assert results[2].evidence["selected"] == ["l"]
    assert results[11].evidence["result"] == "hello/l"
    assert Path(results[9].evidence["screenshot"]) == tmp_path / "screenshots" / \
        "r0-s9-after-submit.png"
    assert Path(results[10].evidence["dom"]).read_text(encoding="utf-8").count("<option") == 2
    assert "combobox" in Path(results[10].evidence["aria"]).read_text(encoding="utf-8")


def test_evaluate_that_never_settles_times_out(run: BrowserRun) -> None:
    assert run.run_step(bstep(0, {"goto": "/index.html"})).ok
    result = run.run_step(bstep(1, {"evaluate": "new Promise(() => {})", "timeout": 0.3}))
    assert not result.ok
    assert "timed out after 0.3s" in result.message


def test_emulate_cpu_and_network_then_offline(run: BrowserRun) -> None:
    throttle = {"emulate": {"cpu": 2, "network": {"latency_ms": 20, "download_kbps": 20000,
                                                  "upload_kbps": 20000}}}
    assert run.run_step(bstep(0, throttle)).ok
    assert run.run_step(bstep(1, {"goto": "/index.html"})).ok
    offline = {"emulate": {"cpu": 1, "network": {"offline": True}}}
    assert run.run_step(bstep(2, offline)).ok
    result = run.run_step(bstep(3, {"goto": "/form.html", "timeout": 3}))
    assert not result.ok and "ERR_INTERNET_DISCONNECTED" in result.message


def test_malformed_step_raises_scenario_error_naming_file_line_field(run: BrowserRun) -> None:
    with pytest.raises(ScenarioError) as info:
        run.run_step(bstep(5, {"fill": {"selector": "#q"}}, line=42))
    assert info.value.path == "scenario.yaml" and info.value.line == 42
    assert info.value.field == "browser.fill.value"


def test_real_rows_fit_the_arrow_schema_and_feed_the_browser_slis(run: BrowserRun) -> None:
    results = [run.run_step(bstep(0, {"goto": "/network.html"})),
               run.run_step(bstep(1, {"wait_for": {"text": "done 500"}})),
               run.run_step(bstep(2, {"goto": "/error.html"}))]
    collected = Collected(run)
    collected.until(lambda t: any(r["kind"] == "pageerror" for r in t))
    run.close()
    collected.drain()
    n = len(collected.columns["kind"])
    table = pa.Table.from_pydict({**collected.columns, "repeat": [0] * n}, schema=BROWSER)
    assert table.num_rows == n

    registry = SliRegistry()
    sli_browser.register(registry)
    data = RunData(repeat=0, tables={"browser": table.to_pandas()}, steps=results)

    def value(text: str) -> float | None:
        return registry.evaluate(data, parse_check(f"{text} >= 0").sli)

    assert value("page.errors") == 1.0
    assert value("requests(status >= 400).count") == 1.0
    # Chrome's "Failed to load resource: ... 500" plus the uncaught page error
    assert value("console.errors") == 2.0
    assert (value('request("/api/traceparent").duration.p95') or 0) > 0
    assert (value("vitals.fcp") or 0) > 0
    assert value('step("browser:wait_for").ok') == 1.0
