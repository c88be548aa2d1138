"""The MCP tools on a live app: a session's lifecycle and captures (start_app, snapshot,
screenshot, save_scenario, stop_app), plus the page's actions (live_action_tools) and
observations (live_observe_tools).

A session is one booted app with its collectors and one Chromium page (cleanloop.loop.mcp.apps)
that belongs to the MCP client that started it (live_clients); the tools turn MCP calls into
calls on the session's own thread. What the agent does on the page is recorded as scenario
steps, and save_scenario turns them into a scenario file: the reproduction becomes a
regression test for `cleanloop run` and `cleanloop verify`.
"""

from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import Field

from cleanloop.loop.base.errors import Cancelled
from cleanloop.loop.mcp.apps import LiveApps
from cleanloop.loop.mcp.live_action_tools import ActionTools
from cleanloop.loop.mcp.live_clients import client_of
from cleanloop.loop.mcp.live_models import (
    SavedScenario,
    ScreenshotInfo,
    SessionId,
    Snapshot,
    StartedApp,
    StoppedApp,
)
from cleanloop.loop.mcp.live_observe_tools import ObserveTools
from cleanloop.loop.mcp.live_page import LivePage
from cleanloop.loop.mcp.live_recording import DEFAULT_CHECKS, target_path, write_scenario
from cleanloop.loop.mcp.registry import ToolHost, tool
from cleanloop.loop.model.scenario import load_scenario
from cleanloop.loop.vcs.repo import state_root

logger = logging.getLogger(__name__)

ScenarioPath = Annotated[str, Field(description="scenario YAML file, relative to the repository")]
DOM_LIMIT = 20_000          # characters of HTML returned inline (the file has all of it)
ARIA_LIMIT = 40_000         # characters of the aria snapshot returned inline

DESCRIPTIONS = {
    "start_app": (
        "Boot the scenario's app as `cleanloop run` does (log capture, an OTLP receiver, its "
        "metrics) and open a Chromium page (its own browser context) at the app's base URL; "
        "both stay up until stop_app. The session belongs to this MCP client: other clients "
        "cannot use it. Returns session (pass it to every live tool), base_url, url, pid, "
        "startup_ms, dir (session files: app.log, screenshots, DOM dumps, steps.yaml) and "
        "mark ('m0', the page's opening)."),
    "snapshot": (
        "The session page's accessibility (aria) snapshot with element references "
        "([ref=e27]) that click, fill, select, hover, press and wait_for accept as `ref`, plus "
        "its DOM, of the page as it is now (navigate first to look elsewhere). Refs are valid "
        "for the latest snapshot until the page navigates. Returns url, title, snapshot "
        "(its number), aria (at most 40000 characters), refs (how many), dom (HTML, at most "
        "20000 characters; dom_chars is the full size) and files (both in full)."),
    "screenshot": (
        "A PNG screenshot of the session's page as it is now: no navigation or reload, so "
        "typed values, open menus and scroll position are what the image shows (navigate "
        "first to look elsewhere). Returns the image plus session, file (the saved PNG) and "
        "url. full_page captures the whole scrollable page, not just the viewport."),
    "save_scenario": (
        "Write the session's recorded steps as a scenario file at `path` (inside the "
        "repository, .yaml; an existing file only with overwrite=true) that `cleanloop run` "
        "and `cleanloop verify` accept: the app and browser sections of the scenario the "
        "session started from (app.cwd adjusted), the steps (all, or the numbers in `steps`, "
        "as actions returned them: step 1 is the opening goto), and `checks` (default: "
        f"{', '.join(DEFAULT_CHECKS)}). The file is validated by loading it. Returns path, "
        "name, steps, checks and app_cwd."),
    "stop_app": (
        "Close the session's browser page, stop its app (whole process group) and write the "
        "telemetry collected while it ran as spans/logs/metrics/browser tables in dir, which "
        "query accepts as `run`. Returns session, dir, exit_code, rows per table and "
        "recorded_steps."),
}


class LiveTools:
    """The live-app tools of one server, and the sessions they started."""

    def __init__(self, host: ToolHost) -> None:
        self.host = host
        self.apps = LiveApps(host.env)
        self.actions = ActionTools(host, self.apps)
        self.observe = ObserveTools(host, self.apps)

    def tools(self) -> list[Tool]:
        d = DESCRIPTIONS
        return [
            tool(self.start_app, title="Start the app with a browser page", read_only=False,
                 description=d["start_app"]),
            tool(self.snapshot, title="Aria snapshot (with element refs) of the live page",
                 read_only=True, description=d["snapshot"]),
            tool(self.screenshot, title="Screenshot the live page", read_only=True,
                 description=d["screenshot"]),
            *self.actions.tools(),
            *self.observe.tools(),
            tool(self.save_scenario, title="Save the session's steps as a scenario",
                 read_only=False, description=d["save_scenario"]),
            tool(self.stop_app, title="Stop the live app", read_only=False, idempotent=True,
                 description=d["stop_app"]),
        ]

    def shutdown(self, timeout_s: float) -> list[str]:
        """Stop every live app; returns the sessions that did not stop within `timeout_s`."""
        return self.apps.stop_all(timeout_s)

    async def start_app(self, scenario: ScenarioPath, ctx: Context | None = None) -> StartedApp:
        owner = client_of(ctx)
        cancelled = threading.Event()
        started: list[str] = []

        def start() -> StartedApp:
            cwd = self.host.cwd
            path = Path(scenario) if Path(scenario).is_absolute() else cwd / scenario
            app = self.apps.start(load_scenario(path), path.resolve().parent,
                                  state_root(self.host.env, cwd), owner)
            started.append(app.id)
            if cancelled.is_set():   # nobody will ever learn this session's id
                self._stop_quietly(app.id, owner)
                raise Cancelled("start_app was cancelled")
            url = app.on_page(lambda page: page.page.url)
            return StartedApp(session=app.id, base_url=app.base_url, url=url, pid=app.pid,
                              startup_ms=app.startup_ms, dir=str(app.store.dir), mark="m0")

        try:
            return await self.host.job(start)
        except anyio.get_cancelled_exc_class():
            # the boot cannot be interrupted; what it started is stopped once it is up
            cancelled.set()
            if started:
                threading.Thread(target=self._stop_quietly, args=(started[0], owner),
                                 daemon=True, name="cleanloop-cancelled-start").start()
            raise

    def _stop_quietly(self, session: str, owner: str) -> None:
        try:
            self.apps.stop(session, owner)
        except Exception as exc:  # already stopped by the other path, or broken
            logger.info("mcp: stopping cancelled session %s: %s", session, exc)

    async def snapshot(self, session: SessionId, ctx: Context | None = None) -> Snapshot:
        owner = client_of(ctx)

        def snap(page: LivePage) -> Snapshot:
            aria, html, files = page.snapshot()
            return Snapshot(session=session, url=page.page.url, title=page.page.title(),
                            snapshot=page.refs.number, aria=aria[:ARIA_LIMIT],
                            aria_truncated=len(aria) > ARIA_LIMIT, refs=len(page.refs.refs),
                            dom=html[:DOM_LIMIT], dom_chars=len(html),
                            dom_truncated=len(html) > DOM_LIMIT, files=files)
        return await self.host.job(lambda: self.apps.get(session, owner).on_page(snap))

    async def screenshot(self, session: SessionId, full_page: Annotated[bool, Field(
            description="the whole scrollable page, not just the viewport")] = False,
            ctx: Context | None = None) -> Annotated[CallToolResult, ScreenshotInfo]:
        owner = client_of(ctx)

        def shoot(page: LivePage) -> tuple[bytes, ScreenshotInfo]:
            file = page.screenshot(full_page)
            return file.read_bytes(), ScreenshotInfo(session=session, file=str(file),
                                                     url=page.page.url)

        png, info = await self.host.job(lambda: self.apps.get(session, owner).on_page(shoot))
        return CallToolResult(
            content=[ImageContent(data=base64.b64encode(png).decode("ascii"),
                                  mime_type="image/png"),
                     TextContent(text=info.model_dump_json())],
            structured_content=info.model_dump(mode="json"))

    async def save_scenario(
            self, session: SessionId,
            path: Annotated[str, Field(description="where to write it, relative to the "
                                                   "repository, e.g. repro/cart-discount.yaml")],
            name: Annotated[str | None, Field(
                description="the scenario's name (default: the file's stem)")] = None,
            checks: Annotated[list[str] | None, Field(
                description="check expressions, e.g. 'console.errors == 0', "
                            "'span(\"POST /api/cart\").error_count == 0'")] = None,
            steps: Annotated[list[int] | None, Field(
                description="the recorded step numbers to keep, in order (default: all)")
            ] = None,
            overwrite: bool = False, ctx: Context | None = None) -> SavedScenario:
        owner = client_of(ctx)

        def save() -> SavedScenario:
            app = self.apps.get(session, owner)
            target = target_path(self.host.cwd, path, overwrite)
            chosen = app.on_page(lambda page: page.recording.as_steps(steps))
            saved = write_scenario(app.scenario, app.project_dir, chosen, target, name=name,
                                   checks=checks, session=session)
            return SavedScenario(path=str(saved.path), name=saved.name, steps=saved.steps,
                                 checks=list(saved.checks), app_cwd=saved.app_cwd)
        return await self.host.job(save)

    async def stop_app(self, session: SessionId, ctx: Context | None = None) -> StoppedApp:
        return await self.host.job(self.apps.stop, session, client_of(ctx))
