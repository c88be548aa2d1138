"""Driving a live page through the MCP tools, in-process (`mcp.client.Client(server)`): actions
by ref and by selector, what each records, screenshots of the page as it is, stale refs,
console/page errors/requests since a mark, emulation, save_scenario's refusals.

A small page server stands in for the app (no telemetry); the shop is in test_live_shop.py.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp.client import Client
from mcp_types import CallToolResult, ImageContent, TextContent

from cleanloop.loop.mcp.server import CleanloopMcp
from cleanloop.loop.model.scenario import load_scenario
from tests.apps.page_server import page_server

pytestmark = pytest.mark.browser

CALL_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0

#: a form page: a text field, a select, two identical buttons told apart by their row, a
#: button whose handler logs an error, fetches a missing URL and throws, and a link
FORM_PAGE = """<!doctype html><html><head><title>form</title><link rel="icon" href="data:,">
</head><body>
<h1 id="title">form</h1>
<label>Name <input id="name" type="text"></label>
<label>Size <select id="size"><option value="s">Small</option>
  <option value="l">Large</option></select></label>
<ul><li data-row="1"><button onclick="done(1)">Edit</button></li>
    <li data-row="2"><button onclick="done(2)">Edit</button></li></ul>
<p id="out"></p>
<button id="broken">Break</button>
<a href="/other">Other page</a>
<script>
  function done(n) { document.getElementById('out').textContent = 'edited ' + n; }
  document.getElementById('broken').addEventListener('click', () => {
    console.error('about to break');
    fetch('/missing');
    throw new Error('boom');
  });
  document.getElementById('name').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') document.getElementById('out').textContent = 'entered';
  });
  console.warn('page loaded');
</script></body></html>"""
FORM_SERVER = page_server(FORM_PAGE, not_found=("/missing",))
SCENARIO = ('name: form\napp:\n  command: "{python} form.py {port}"\n  ready: {http: /}\n'
            "  timeout: 20s\nbrowser:\n  viewport: [800, 600]\nsteps:\n"
            "  - browser: {goto: /}\n")

Body = Callable[..., Awaitable[None]]


# -- helpers shared by the live tests ---------------------------------------------------------
def with_clients(repo: Path, body: Body, clients: int = 1) -> None:
    """Build the server in-process for `repo`, connect `clients` MCP clients, run `body` with
    them, and stop every live session afterwards."""
    mcp = CleanloopMcp(dict(os.environ), cwd=repo)
    server = mcp.build()

    async def main() -> None:
        async with AsyncExitStack() as stack:
            connected = [await stack.enter_async_context(Client(server))
                         for _ in range(clients)]
            await body(*connected)

    try:
        anyio.run(main)
    finally:
        assert mcp.live.shutdown(STOP_TIMEOUT_S) == []


async def call(client: Client, tool: str, /, **args: Any) -> CallToolResult:
    with anyio.fail_after(CALL_TIMEOUT_S):
        return await client.call_tool(tool, args)


def ok(result: CallToolResult) -> Any:
    assert not result.is_error, text_of(result)
    return result.structured_content


def error(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def ref_of(aria: str, pattern: str, after: str | None = None) -> str:
    """The ref of the first aria line matching `pattern` (after a line matching `after`)."""
    seen = after is None
    for line in aria.splitlines():
        if not seen and after is not None and re.search(after, line):
            seen = True
        elif seen and re.search(pattern, line):
            found = re.search(r"\[ref=(\w+)\]", line)
            assert found, line
            return found.group(1)
    raise AssertionError(f"no line matching {pattern!r} in\n{aria}")


@pytest.fixture
def form_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "form.py").write_text(FORM_SERVER)
    (repo / "form.yaml").write_text(SCENARIO)
    return repo


# -- tests ---------------------------------------------------------------------------------------
def test_actions_by_ref_and_selector_are_recorded_with_stable_selectors(form_repo: Path) -> None:
    async def body(client: Client) -> None:
        started = ok(await call(client, "start_app", scenario="form.yaml"))
        sid = started["session"]
        assert started["mark"] == "m0" and started["url"] == started["base_url"] + "/"

        snap = ok(await call(client, "snapshot", session=sid))
        assert snap["snapshot"] == 1 and snap["refs"] > 5 and "[ref=e" in snap["aria"]
        assert Path(snap["files"]["aria"]).read_text().startswith("- ")

        filled = ok(await call(client, "fill", session=sid,
                               ref=ref_of(snap["aria"], r'textbox "Name"'), value="Ada"))
        assert filled["selector"] == "#name" and filled["step"] == 2
        second_edit = ref_of(snap["aria"], r'button "Edit"', after=r'button "Edit"')
        clicked = ok(await call(client, "click", session=sid, ref=second_edit))
        assert clicked["selector"] == '[data-row="2"] >> role=button[name="Edit"]'
        chosen = ok(await call(client, "select", session=sid, selector="#size", values="l"))
        assert chosen["selector"] == "#size"
        ok(await call(client, "hover", session=sid, selector="text=Other page"))
        ok(await call(client, "press", session=sid, selector="#name", key="Enter"))
        waited = ok(await call(client, "wait_for", session=sid, text="entered", timeout=5))
        assert waited["ok"] is True

        # the screenshot shows the page as it is: no navigation, the typed value still there
        shot = await call(client, "screenshot", session=sid)
        images = [c for c in shot.content if isinstance(c, ImageContent)]
        assert len(images) == 1 and base64.b64decode(images[0].data).startswith(b"\x89PNG")
        assert ok(shot)["url"] == started["url"]
        value = ok(await call(client, "evaluate", session=sid,
                              expression="[document.querySelector('#name').value, "
                                         "document.querySelector('#size').value, "
                                         "document.querySelector('#out').textContent]"))
        assert value["result"] == ["Ada", "l", "entered"]

        saved = ok(await call(client, "save_scenario", session=sid, path="saved/form-flow.yaml",
                              checks=["page.errors == 0"], steps=[1, 2, 3, 4, 5, 6, 7]))
        assert saved["steps"] == 7 and saved["app_cwd"] == ".."
        steps = [s["browser"] for s in yaml.safe_load(Path(saved["path"]).read_text())["steps"]]
        assert steps[0]["goto"] == "/"
        assert steps[1]["fill"] == {"selector": "#name", "value": "Ada"}
        assert steps[2]["click"] == '[data-row="2"] >> role=button[name="Edit"]'
        assert steps[3]["select"] == {"selector": "#size", "value": "l"}
        assert steps[5]["press"] == {"key": "Enter", "selector": "#name"}
        assert steps[6]["wait_for"] == {"text": "entered"} and steps[6]["timeout"] == 5
        loaded = load_scenario(saved["path"])
        assert [c.text for c in loaded.checks] == ["page.errors == 0"]
        stopped = ok(await call(client, "stop_app", session=sid))
        assert stopped["recorded_steps"] == 8
        assert (Path(stopped["dir"]) / "steps.yaml").is_file()

    with_clients(form_repo, body)


def test_errors_requests_and_marks_since_an_action(form_repo: Path) -> None:
    async def body(client: Client) -> None:
        sid = ok(await call(client, "start_app", scenario="form.yaml"))["session"]
        opening = ok(await call(client, "console_messages", session=sid, since="start"))
        assert [e["text"] for e in opening["entries"]] == ["page loaded"]

        broke = ok(await call(client, "click", session=sid, selector="#broken"))
        assert broke["errors"] >= 2          # console.error and the exception (+ the 404's line)
        assert broke["failed_requests"] == 1
        console = ok(await call(client, "console_messages", session=sid, level="error"))
        assert console["since"] == broke["mark"]
        exception = next(e for e in console["entries"] if e["source"] == "exception")
        assert exception["text"] == "Error: boom"
        assert re.search(r"^http://127\.0\.0\.1:\d+/:\d+:\d+$", exception["location"])
        assert "about to break" in {e["text"] for e in console["entries"]}
        errors = ok(await call(client, "page_errors", session=sid))
        assert [e["message"] for e in errors["entries"]] == ["Error: boom"]
        assert "boom" in errors["entries"][0]["stack"]
        failed = ok(await call(client, "network_requests", session=sid, failed_only=True))
        assert [(r["url"].rsplit("/", 1)[1], r["status"]) for r in failed["entries"]] \
            == [("missing", 404)]
        assert failed["entries"][0]["trace_id"]            # injected into same-origin requests

        mark = ok(await call(client, "mark", session=sid))
        quiet = ok(await call(client, "console_messages", session=sid))
        assert quiet["since"] == mark["mark"] and quiet["entries"] == []
        limited = ok(await call(client, "console_messages", session=sid, since=broke["mark"],
                                limit=1))
        assert len(limited["entries"]) == 1 and limited["truncated"] and limited["total"] == 3
        assert "no mark 'm99'" in error(await call(client, "page_errors", session=sid,
                                                   since="m99"))

        # a failed action is a tool error and is not recorded
        missing = await call(client, "click", session=sid, selector="#nothing-here", timeout=1)
        assert "click #nothing-here timed out" in error(missing)
        stopped = ok(await call(client, "stop_app", session=sid))
        assert stopped["recorded_steps"] == 2                 # the opening goto and the click

    with_clients(form_repo, body)


def test_stale_and_unknown_refs_are_clear_errors(form_repo: Path) -> None:
    async def body(client: Client) -> None:
        sid = ok(await call(client, "start_app", scenario="form.yaml"))["session"]
        assert "no snapshot taken yet" in error(await call(client, "click", session=sid,
                                                           ref="e2"))
        aria = ok(await call(client, "snapshot", session=sid))["aria"]
        link = ref_of(aria, r'link "Other page"')
        assert "not in the latest snapshot" in error(await call(client, "click", session=sid,
                                                                ref="e999"))
        assert "exactly one of ref" in error(await call(client, "click", session=sid,
                                                        ref=link, selector="a"))
        assert "pass a snapshot's element reference as ref" in error(await call(
            client, "click", session=sid, selector=f"aria-ref={link}"))
        moved = ok(await call(client, "click", session=sid, ref=link))
        assert moved["url"].endswith("/other") and moved["selector"] == 'role=link[name=' \
            '"Other page"]'
        stale = error(await call(client, "hover", session=sid, ref=link))
        assert "is stale" in stale and "take a new snapshot" in stale
        again = ok(await call(client, "snapshot", session=sid))
        assert again["snapshot"] == 2
        ok(await call(client, "hover", session=sid, ref=ref_of(again["aria"], r'link "Other')))

    with_clients(form_repo, body)


def test_emulation_changes_what_the_page_sees_and_is_recorded(form_repo: Path) -> None:
    connection = "[navigator.connection.rtt, navigator.connection.downlink, navigator.onLine]"

    async def body(client: Client) -> None:
        sid = ok(await call(client, "start_app", scenario="form.yaml"))["session"]
        rtt, downlink, online = ok(await call(client, "evaluate", session=sid,
                                              expression=connection))["result"]
        assert rtt < 1000 and online is True

        slow = ok(await call(client, "emulate", session=sid, network="slow-3g", cpu=4))
        assert slow["cpu_rate"] == 4 and slow["network"]["latency_ms"] == 2000
        rtt, downlink, online = ok(await call(client, "evaluate", session=sid,
                                              expression=connection))["result"]
        assert rtt >= 1000 and downlink < 1 and online is True      # the CDP conditions
        custom = ok(await call(client, "emulate", session=sid, network="fast-3g",
                               latency_ms=50))
        assert custom["network"]["latency_ms"] == 50 and custom["cpu_rate"] == 4
        ok(await call(client, "emulate", session=sid, network="offline"))
        assert ok(await call(client, "evaluate", session=sid,
                             expression="navigator.onLine"))["result"] is False
        reset = ok(await call(client, "emulate", session=sid, reset=True))
        assert reset["cpu_rate"] == 1 and reset["network"] == {}
        rtt, _, online = ok(await call(client, "evaluate", session=sid,
                                       expression=connection))["result"]
        assert rtt < 1000 and online is True
        assert "give it alone" in error(await call(client, "emulate", session=sid, reset=True,
                                                   cpu=2))

        saved = ok(await call(client, "save_scenario", session=sid, path="throttled.yaml",
                              steps=[1, 3]))
        emulated = yaml.safe_load(Path(saved["path"]).read_text())["steps"][1]["browser"]
        assert emulated["emulate"] == {"cpu": 4.0, "network": {
            "latency_ms": 2000.0, "download_kbps": 400.0, "upload_kbps": 400.0}}

    with_clients(form_repo, body)


def test_save_scenario_refuses_outside_paths_clobbering_and_bad_checks(form_repo: Path) -> None:
    (form_repo / "taken.yaml").write_text("keep me\n")

    async def body(client: Client) -> None:
        sid = ok(await call(client, "start_app", scenario="form.yaml"))["session"]
        outside = error(await call(client, "save_scenario", session=sid, path="../escape.yaml"))
        assert "outside the repository" in outside
        absolute = error(await call(client, "save_scenario", session=sid,
                                    path=str(form_repo.parent / "abs.yaml")))
        assert "outside the repository" in absolute
        assert not (form_repo.parent / "escape.yaml").exists()
        assert "overwrite=true" in error(await call(client, "save_scenario", session=sid,
                                                    path="taken.yaml"))
        assert (form_repo / "taken.yaml").read_text() == "keep me\n"
        bad = error(await call(client, "save_scenario", session=sid, path="bad.yaml",
                               checks=["console.errrors == 0"]))
        assert "bad.yaml" in bad and not (form_repo / "bad.yaml").exists()
        assert "no recorded step 9" in error(await call(client, "save_scenario", session=sid,
                                                        path="some.yaml", steps=[9]))
        replaced = ok(await call(client, "save_scenario", session=sid, path="taken.yaml",
                                 overwrite=True))
        assert load_scenario(replaced["path"]).name == "taken"
        assert "extra" in error(await call(client, "save_scenario", session=sid,
                                           path="x.yaml", extra=1))

    with_clients(form_repo, body)
