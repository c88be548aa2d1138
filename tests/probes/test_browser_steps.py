"""Browser step grammar and the recorder's pure helpers (no browser needed)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.model.browser_steps import parse_step
from cleanloop.loop.model.steps import Step
from cleanloop.probes.browser_recorder import (
    COLUMNS,
    BrowserRecorder,
    console_level,
    location_from_stack,
    new_traceparent,
    origin_of,
)


def step(params: dict[str, Any], line: int = 7) -> Step:
    return Step(kind="browser", index=2, line=line, name="x", params=params,
                source="checkout.yaml")


@pytest.mark.parametrize(("params", "name", "args", "timeout"), [
    ({"goto": "/cart"}, "goto", {"url": "/cart"}, None),
    ({"click": "text=Add", "timeout": 2.5}, "click", {"selector": "text=Add"}, 2.5),
    ({"fill": {"selector": "#q", "value": ""}}, "fill", {"selector": "#q", "value": ""}, None),
    ({"press": {"key": "Enter"}}, "press", {"key": "Enter"}, None),
    ({"select": {"selector": "s", "value": ["a", "b"]}}, "select",
     {"selector": "s", "value": ["a", "b"]}, None),
    ({"wait_for": {"network_idle": True}}, "wait_for", {"network_idle": True}, None),
    ({"wait_for": {"selector": "#x", "state": "hidden"}}, "wait_for",
     {"selector": "#x", "state": "hidden"}, None),
    ({"expect_text": {"selector": "#n", "text": 1}}, "expect_text",
     {"selector": "#n", "text": "1"}, None),
    ({"expect_count": {"selector": "li", "count": 0}}, "expect_count",
     {"selector": "li", "count": 0}, None),
    ({"screenshot": "home"}, "screenshot", {"name": "home"}, None),
    ({"emulate": {"cpu": 4, "network": {"latency_ms": 40, "offline": False}}}, "emulate",
     {"cpu": 4.0, "network": {"latency_ms": 40.0, "offline": False}}, None),
])
def test_valid_steps_parse(params: dict[str, Any], name: str, args: dict[str, Any],
                           timeout: float | None) -> None:
    action = parse_step(step(params))
    assert (action.name, dict(action.args), action.timeout_s) == (name, args, timeout)


@pytest.mark.parametrize(("params", "field", "fragment"), [
    ({"tap": "#x"}, "browser.tap", "unknown browser action 'tap'"),
    ({}, "browser", "exactly one action"),
    ({"click": "#a", "hover": "#b"}, "browser", "exactly one action"),
    ({"fill": {"selector": "#q"}}, "browser.fill.value", "missing required field"),
    ({"fill": "#q"}, "browser.fill", "expected a mapping"),
    ({"click": {"selector": "#a", "force": True}}, "browser.click.force", "unknown field"),
    ({"click": ""}, "browser.click.selector", "must not be empty"),
    ({"click": "#a", "timeout": -1}, "browser.click.timeout", ">= 0.001"),
    ({"expect_count": {"selector": "li", "count": 1.5}}, "browser.expect_count.count",
     "integer"),
    ({"expect_text": {"selector": "#a", "text": "x", "exact": "yes"}},
     "browser.expect_text.exact", "true or false"),
    ({"wait_for": {"text": "a", "url": "/b"}}, "browser.wait_for", "exactly one of"),
    ({"wait_for": {"text": "a", "state": "hidden"}}, "browser.wait_for.state", "selector"),
    ({"goto": {"url": "/", "wait_until": "idle"}}, "browser.goto.wait_until", "one of"),
    ({"emulate": {}}, "browser.emulate", "cpu and/or network"),
    ({"emulate": {"cpu": 0.5}}, "browser.emulate.cpu", ">= 1"),
    ({"emulate": {"network": {"speed": 3}}}, "browser.emulate.network.speed", "unknown"),
])
def test_bad_steps_name_file_line_and_field(params: dict[str, Any], field: str,
                                            fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_step(step(params, line=31))
    error = info.value
    assert (error.path, error.line, error.field) == ("checkout.yaml", 31, field)
    assert fragment in str(error)
    assert str(error).startswith("checkout.yaml:31: field")


def test_timeout_target_for_messages() -> None:
    assert parse_step(step({"wait_for": {"network_idle": True}})).target() == "network idle"
    assert parse_step(step({"goto": "/a"})).target() == "/a"
    assert parse_step(step({"screenshot": "x"})).target() == "the page"


def test_traceparent_format_and_fresh_ids() -> None:
    header, trace_id = new_traceparent()
    assert re.fullmatch(rf"00-{trace_id}-[0-9a-f]{{16}}-01", header)
    assert new_traceparent()[1] != trace_id


def test_location_from_chrome_and_firefox_style_stacks() -> None:
    chrome = "TypeError: x\n    at brokenHandler (http://h:1/app.js:8:11)\n    at http://h:1/a:2:3"
    assert location_from_stack(chrome) == "http://h:1/app.js:8:11"
    assert location_from_stack("Error: y\n    at http://h:1/p.html:7:24") == "http://h:1/p.html:7:24"
    assert location_from_stack("f@http://h:1/f.js:3:5") == "http://h:1/f.js:3:5"
    assert location_from_stack("Error: no frames") is None


def test_console_levels_and_origins() -> None:
    assert [console_level(t) for t in ("error", "assert", "warning", "info", "debug", "trace",
                                       "log", "table")] == [
        "error", "error", "warning", "info", "debug", "debug", "log", "log"]
    assert origin_of("HTTP://127.0.0.1:80/x?y") == "http://127.0.0.1:80"


def test_recorder_rows_are_column_complete_and_reject_unknown_columns() -> None:
    recorder = BrowserRecorder("http://127.0.0.1:1", clock=lambda: 42)
    recorder.step = 3
    recorder.add("console", level="error", text="boom")
    with pytest.raises(KeyError):
        recorder.add("console", colour="red")
    recorder.recording = False
    recorder.add("console", text="late")
    columns = recorder.drain()
    assert tuple(columns) == COLUMNS and "repeat" not in columns
    assert {name: values[0] for name, values in columns.items() if values[0] is not None} == {
        "ts_ns": 42, "kind": "console", "level": "error", "text": "boom", "step": 3}
    assert recorder.dropped == 1 and recorder.drain()["kind"] == []
