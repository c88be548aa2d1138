"""The MCP tools on a live app: start_app, screenshot, snapshot, stop_app.

A session is one booted app with its collectors and one Chromium page (cleanloop.loop.mcp.apps);
the tools here turn MCP calls into calls on the session's own thread.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver.tools.base import Tool
from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import Field

from cleanloop.loop.mcp.apps import LiveApps
from cleanloop.loop.mcp.registry import ToolHost, tool
from cleanloop.loop.mcp.tools import jsonable
from cleanloop.loop.model.scenario import load_scenario
from cleanloop.loop.vcs.repo import state_root

ScenarioPath = Annotated[str, Field(description="scenario YAML file, relative to the repository")]
SessionId = Annotated[str, Field(description="the session id returned by start_app")]
PagePath = Annotated[str, Field(description="URL path relative to the app's base URL, e.g. /cart")]

DESCRIPTIONS = {
    "start_app": (
        "Boot the scenario's app (with log capture and an OTLP receiver) and open a Chromium "
        "page at its base URL; both stay up until stop_app. Returns session (pass it to "
        "screenshot, snapshot, stop_app), base_url, pid, startup_ms and dir (where screenshots, "
        "DOM dumps and app.log go)."),
    "screenshot": (
        "Navigate the session's page to `path` (relative to the app's base URL; default '/') and "
        "return a PNG screenshot as an image, plus file (the saved PNG) and url. full_page "
        "captures the whole scrollable page."),
    "snapshot": (
        "The session page's DOM and accessibility (aria) snapshot, after navigating to `path` "
        "when given (otherwise the current page). Returns url, dom (HTML, truncated to 20000 "
        "characters; dom_chars is the full size), aria (YAML-like aria tree: roles, names, "
        "text) and files (full DOM and aria files)."),
    "stop_app": (
        "Close the session's browser page, stop its app (whole process group) and write the "
        "telemetry collected while it ran as spans/logs/metrics/browser tables in dir, which "
        "query accepts as `run`. Returns session, dir, exit_code and rows per table."),
}


class LiveTools:
    """The live-app tools of one server, and the sessions they started."""

    def __init__(self, host: ToolHost) -> None:
        self.host = host
        self.apps = LiveApps(state_root(host.env, host.cwd), host.env)

    def tools(self) -> list[Tool]:
        return [
            tool(self.start_app, title="Start the app with a browser page", read_only=False,
                 description=DESCRIPTIONS["start_app"]),
            tool(self.screenshot, title="Screenshot the live page", read_only=True,
                 description=DESCRIPTIONS["screenshot"]),
            tool(self.snapshot, title="DOM and aria snapshot of the live page", read_only=True,
                 description=DESCRIPTIONS["snapshot"]),
            tool(self.stop_app, title="Stop the live app", read_only=False, idempotent=True,
                 description=DESCRIPTIONS["stop_app"]),
        ]

    def shutdown(self, timeout_s: float) -> list[str]:
        """Stop every live app; returns the sessions that did not stop within `timeout_s`."""
        return self.apps.stop_all(timeout_s)

    async def start_app(self, scenario: ScenarioPath) -> dict[str, Any]:
        return await self.host.job(self._start_app, scenario)

    def _start_app(self, scenario: str) -> dict[str, Any]:
        path = Path(scenario) if Path(scenario).is_absolute() else self.host.cwd / scenario
        app = self.apps.start(load_scenario(path), path.resolve().parent)
        return {"session": app.id, "base_url": app.base_url, "pid": app.pid,
                "startup_ms": app.startup_ms, "dir": str(app.store.dir)}

    async def screenshot(self, session: SessionId, path: PagePath = "/",
                         full_page: bool = False) -> CallToolResult:
        def shoot() -> tuple[bytes, dict[str, Any]]:
            app = self.apps.get(session)
            return app.call(lambda: app.screenshot(path, full_page))

        png, info = await self.host.job(shoot)
        return CallToolResult(
            content=[ImageContent(data=base64.b64encode(png).decode("ascii"),
                                  mime_type="image/png"),
                     TextContent(text=json.dumps(info))],
            structured_content=info)

    async def snapshot(self, session: SessionId, path: PagePath | None = None) -> dict[str, Any]:
        def snap() -> dict[str, Any]:
            app = self.apps.get(session)
            return app.call(lambda: app.snapshot(path))

        return await self.host.job(snap)

    async def stop_app(self, session: SessionId) -> dict[str, Any]:
        stopped: dict[str, Any] = jsonable(await self.host.job(self.apps.stop, session))
        return stopped
