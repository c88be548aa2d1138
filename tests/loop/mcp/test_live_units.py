"""The live session's pieces without a browser: refs from an aria snapshot, emulation
arguments, where a scenario may be saved and what it holds, marks and rows since them, the
backend telemetry summary, the client identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cleanloop.loop.base.errors import ScenarioError, UsageError
from cleanloop.loop.base.schema import Columns
from cleanloop.loop.mcp.live_clients import LOCAL_CLIENT, client_of
from cleanloop.loop.mcp.live_emulation import EmulationState, apply, emulate_args
from cleanloop.loop.mcp.live_marks import Marks, console_entries, counts, request_entries
from cleanloop.loop.mcp.live_models import RequestRef
from cleanloop.loop.mcp.live_recording import Recording, target_path, write_scenario
from cleanloop.loop.mcp.live_refs import RefInfo, RefTable
from cleanloop.loop.mcp.live_telemetry import backend, span_counts
from cleanloop.loop.model.scenario import load_scenario

ARIA = """- generic [active] [ref=e1]:
  - button "Say \\"hi\\"" [ref=e3] [cursor=pointer]
  - generic [ref=e4]: "-15%"
  - text: items
  - iframe [ref=e5]:
    - link "Docs" [ref=f1e2]:
      - /url: /docs
"""


def test_refs_come_from_the_latest_snapshot_only() -> None:
    table = RefTable()
    with pytest.raises(UsageError, match="no snapshot taken yet"):
        table.lookup("e3")
    assert table.update(ARIA) == 5
    assert table.lookup("e3") == RefInfo("button", 'Say "hi"')
    assert table.lookup("e4") == RefInfo("generic", "")
    assert table.lookup("f1e2") == RefInfo("link", "Docs")
    with pytest.raises(UsageError, match="not in the latest snapshot"):
        table.lookup("e2")
    table.clear("the page navigated to /cart")
    with pytest.raises(UsageError, match="stale: the page navigated to /cart"):
        table.lookup("e3")
    table.update("- button \"Go\" [ref=e9]")
    assert table.number == 2 and set(table.refs) == {"e9"}


def test_emulation_arguments() -> None:
    assert emulate_args(4, None, None, None, None, False) == {"cpu": 4.0}
    slow = emulate_args(None, "slow-3g", 100, None, None, False)
    assert slow == {"network": {"latency_ms": 100, "download_kbps": 400.0,
                                "upload_kbps": 400.0}}
    assert emulate_args(None, "offline", None, None, None, False) == {
        "network": {"offline": True}}
    assert emulate_args(None, None, None, None, None, True) == {
        "cpu": 1.0, "network": {"latency_ms": 0.0, "offline": False}}
    for bad in ((2, None, None, None, None, True), (None, "offline", 10, None, None, False),
                (None, None, None, None, None, False)):
        with pytest.raises(UsageError):
            emulate_args(*bad)
    state = EmulationState()
    apply(state, slow)
    assert state.network["latency_ms"] == 100 and state.cpu_rate == 1
    apply(state, emulate_args(None, None, None, None, None, True))
    assert state.network == {} and state.cpu_rate == 1


def test_a_scenario_is_saved_only_inside_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "escape").symlink_to(outside)
    (repo / "taken.yaml").write_text("x: 1\n")
    assert target_path(repo, "sub/new.yaml", False) == (repo / "sub/new.yaml").resolve()
    for given, message in (("../x.yaml", "outside the repository"),
                           (str(outside / "x.yaml"), "outside the repository"),
                           ("escape/x.yaml", "outside the repository"),
                           ("sub/notes.txt", ".yaml or .yml"),
                           ("taken.yaml", "overwrite=true")):
        with pytest.raises(UsageError, match=message):
            target_path(repo, given, False)
    assert target_path(repo, "taken.yaml", True).name == "taken.yaml"


def test_saved_scenario_boots_the_app_from_its_new_directory(tmp_path: Path) -> None:
    source = tmp_path / "scenarios" / "ui.yaml"
    source.parent.mkdir()
    source.write_text("name: ui\n# a comment\napp:\n  command: \"{python} shop.py {port}\"\n"
                      "  cwd: ../app\n  ready: {http: /healthz}\nbrowser: {viewport: [640, 480]}"
                      "\nsteps:\n  - http: {path: /}\nguards:\n  - span(\"GET /\").p50 "
                      "regresses <= 10%\n")
    recording = Recording(tmp_path)
    recording.add("goto /", {"goto": "/"})
    recording.add("click Buy", {"click": 'role=button[name="Buy"]', "timeout": 2.0})
    assert yaml.safe_load((tmp_path / "steps.yaml").read_text())["steps"][1] == {
        "browser": {"name": "click Buy", "click": 'role=button[name="Buy"]', "timeout": 2.0}}
    with pytest.raises(ScenarioError):
        recording.add("bad", {"click": 3, "hover": "a"})

    target = tmp_path / "repro" / "deep" / "buy.yaml"
    saved = write_scenario(load_scenario(source), source.parent, recording.as_steps(None),
                           target, name=None, checks=None, session="s1")
    assert saved.app_cwd == "../../app" and saved.name == "buy" and saved.steps == 2
    loaded = load_scenario(target)
    assert loaded.app.cwd == "../../app" and loaded.browser.viewport == (640, 480)
    assert [c.text for c in loaded.checks] == list(saved.checks)
    assert loaded.guards == ()          # the source's guards name its own SLIs: not copied

    with pytest.raises(ScenarioError, match="checks"):
        write_scenario(load_scenario(source), source.parent, recording.as_steps([2]),
                       tmp_path / "bad.yaml", name="bad", checks=["nonsense =="], session="s1")
    assert not (tmp_path / "bad.yaml").exists()
    with pytest.raises(UsageError, match="recorded steps 1..2"):
        recording.as_steps([3])


def browser_rows(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("ts_ns", "kind", "level", "text", "url", "method", "status", "location", "stack",
            "trace_id", "attributes", "duration_ms", "size")
    return [{k: row.get(k) for k in keys} for row in rows]


def test_marks_and_browser_rows_since_them() -> None:
    marks = Marks()
    opened = marks.add(1_000_000_000, 0, {})
    later = marks.add(2_000_000_000, 3, {"otlp:spans": 1})
    assert marks.resolve(None) is later and marks.resolve("m0") is opened
    assert marks.resolve("start").wall_ns == 0 and marks.opened is opened
    with pytest.raises(UsageError, match="no mark 'm7'"):
        marks.resolve("m7")

    rows = browser_rows(
        {"ts_ns": 2_000_000_000, "kind": "console", "level": "warning", "text": "slow"},
        {"ts_ns": 2_500_000_000, "kind": "pageerror", "text": "TypeError: x",
         "location": "http://h/static/app.js:3:9", "url": "http://h/"},
        {"ts_ns": 2_600_000_000, "kind": "request", "method": "GET", "url": "http://h/a",
         "status": 500, "trace_id": "t1", "attributes": '{"resource_type": "fetch"}'},
        {"ts_ns": 2_700_000_000, "kind": "requestfailed", "method": "GET", "url": "http://x/",
         "text": "net::ERR_CONNECTION_REFUSED"},
        {"ts_ns": 2_800_000_000, "kind": "request", "method": "GET", "url": "http://h/b",
         "status": 200})
    entries = console_entries(rows, opened, "error")
    assert [(e.source, e.url, e.at_ms) for e in entries] == [
        ("exception", "http://h/static/app.js", 1500.0)]
    assert len(console_entries(rows, opened, "debug")) == 2
    assert counts(rows) == (1, 3, 2)
    failed = request_entries(rows, opened, {"t1": 2}, failed_only=True)
    assert [(r.status, r.failure, r.spans, r.resource_type) for r in failed] == [
        (500, None, 2, "fetch"), (None, "net::ERR_CONNECTION_REFUSED", 0, None)]


def test_backend_telemetry_since_a_mark_by_trace() -> None:
    marks = Marks()
    opened = marks.add(1_000, 0, {})
    spans: Columns = {"trace_id": ["t1", "t2", "t1"], "span_id": ["a", "b", "c"],
             "parent_span_id": ["p", "", "a"], "name": ["POST /api/cart", "GET /", "db.query"],
             "kind": ["SERVER", "SERVER", "INTERNAL"], "service": ["shop"] * 3,
             "start_ns": [2_000, 500, 2_100], "end_ns": [3_000, 900, 2_200],
             "duration_ms": [1.0, 0.4, 0.1], "status": ["UNSET"] * 3, "status_message": [""] * 3,
             "attributes": ['{"http.response.status_code": 400}', "{}", '{"db.statement": "'
                            + "x" * 2000 + '"}'], "events": ["[]"] * 3}
    logs: Columns = {"ts_ns": [2_050], "source": ["stdout"], "level": ["info"],
                     "severity_number": [0], "message": ["cart refused"], "trace_id": ["t1"],
                     "span_id": ["a"], "service": ["shop"], "attributes": ["{}"]}
    metrics: Columns = {"ts_ns": [1_500, 2_500, 2_500], "source": ["otlp"] * 3,
               "name": ["requests", "requests", "duration"], "sample": ["requests", "requests",
                                                                       "duration_bucket"],
               "type": ["counter", "counter", "histogram"], "labels": ['{"route": "/"}'] * 3,
               "le": [float("nan"), float("nan"), 0.5], "value": [1.0, 2.0, 7.0]}
    peeked = {"otlp:spans": spans, "process:logs": logs, "otlp:metrics": metrics}
    join = {"t1": RequestRef(method="POST", url="http://h/api/cart", status=400)}
    found = backend(peeked, opened, opened, "t1", join, limit=10)
    assert [s.name for s in found.spans] == ["POST /api/cart", "db.query"]
    assert found.spans[0].request == join["t1"] and found.metrics == []
    assert str(found.spans[1].attributes["db.statement"]).endswith("...")
    assert [entry.message for entry in found.logs] == ["cart refused"]

    everything = backend(peeked, opened, opened, None, join, limit=1)
    assert everything.totals == {"spans": 2, "logs": 1, "metrics": 1} and everything.truncated
    (series,) = everything.metrics
    assert (series.name, series.value, series.points) == ("requests", 2.0, 2)
    assert span_counts(spans) == {"t1": 2, "t2": 1}


def test_a_call_without_request_context_is_the_local_client() -> None:
    assert client_of(None) == LOCAL_CLIENT
