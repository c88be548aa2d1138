"""The MCP tools that act on a live session's page: navigate, click, fill, press, select,
hover, evaluate, wait_for, emulate.

Each runs as a browser step on the session's thread (cleanloop.loop.mcp.live_page), is
recorded as a scenario step with a stable selector, takes a mark just before it acts, and
returns what happened since that mark (errors, requests). Elements are given by `ref` (from
the latest snapshot) or by `selector`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.mcp.apps import LiveApps
from cleanloop.loop.mcp.live_clients import client_of
from cleanloop.loop.mcp.live_emulation import Preset, emulate_args
from cleanloop.loop.mcp.live_marks import counts
from cleanloop.loop.mcp.live_models import (
    ActionResult,
    Emulation,
    Ref,
    Selector,
    SessionId,
    Timeout,
)
from cleanloop.loop.mcp.live_page import LivePage, Outcome
from cleanloop.loop.mcp.live_refs import resolve
from cleanloop.loop.mcp.registry import ToolHost, tool

RETURNS = (" Returns ok, step (its number in the session's recorded scenario steps), selector "
           "(the stable selector recorded for the element), url, mark (taken just before the "
           "action: the default `since` of console_messages, network_requests, page_errors "
           "and backend_telemetry), and errors, requests, failed_requests counted since that "
           "mark. A failed action (element not found within the timeout ...) is a tool error "
           "naming the failure and the screenshot/DOM captured, and is not recorded.")
TARGET = (" Give the element as `ref` (from the latest snapshot; a ref from an older snapshot "
          "or from before a navigation is refused: take a new snapshot) or as `selector`.")
DESCRIPTIONS = {
    "navigate": "Navigate the session's page to `url` (a path relative to the app such as "
                "/cart, or a full URL) and wait for its load event." + RETURNS,
    "click": "Click an element of the session's page and wait (at most 5 s) for the requests "
             "the click started." + TARGET + RETURNS,
    "fill": "Type `value` into an input, textarea or contenteditable element (replacing its "
            "content)." + TARGET + RETURNS,
    "press": "Press a key or chord (`key`, e.g. 'Enter', 'Control+A') on an element, or on the "
             "focused element when neither ref nor selector is given." + RETURNS,
    "select": "Choose option(s) of a <select> element by value or label (`values`: one "
              "string or a list)." + TARGET + RETURNS,
    "hover": "Move the mouse over an element." + TARGET + RETURNS,
    "evaluate": "Evaluate a JavaScript expression in the page (a promise is awaited; a "
                "function is called) and return its value as JSON in `result` (at most 4000 "
                "characters of JSON, else truncated). Recorded as an evaluate step, like the "
                "actions: leave it out of save_scenario (`steps`) when it only looked."
                + RETURNS,
    "wait_for": "Wait, at most `timeout` seconds (default 10, max 60), until an element "
                "(ref or selector) reaches `state` (visible, hidden, attached, detached) or "
                "`text` is visible on the page. Returns ok=false with the message when the "
                "condition did not come true: that is an observation, not an error, and the "
                "wait is recorded either way, so a saved scenario expects the condition (on a "
                "buggy app, the reproduction fails there)." + RETURNS.split(". A failed")[0]
                + ".",
    "emulate": "Throttle the session's page: CPU slowdown `cpu` (rate, 1 = none, 4 = four "
               "times slower) and/or network conditions: a `network` preset (slow-3g, "
               "fast-3g, slow-4g, fast-4g, offline, none) and/or explicit latency_ms, "
               "download_kbps, upload_kbps (override the preset). reset=true removes every "
               "throttling. Applied through CDP and recorded as an emulate step, so a saved "
               "scenario replays the same conditions. Returns cpu_rate and network (the "
               "conditions now in effect; {} when unthrottled), step and mark.",
}


class ActionTools:
    """navigate, click, fill, press, select, hover, evaluate, wait_for, emulate."""

    def __init__(self, host: ToolHost, apps: LiveApps) -> None:
        self.host = host
        self.apps = apps

    def tools(self) -> list[Tool]:
        d = DESCRIPTIONS
        return [
            tool(self.navigate, title="Navigate the live page", read_only=False,
                 description=d["navigate"]),
            tool(self.click, title="Click an element", read_only=False, description=d["click"]),
            tool(self.fill, title="Fill a field", read_only=False, description=d["fill"]),
            tool(self.press, title="Press a key", read_only=False, description=d["press"]),
            tool(self.select, title="Select options", read_only=False, description=d["select"]),
            tool(self.hover, title="Hover an element", read_only=False, description=d["hover"]),
            tool(self.evaluate, title="Evaluate JavaScript in the page", read_only=False,
                 description=d["evaluate"]),
            tool(self.wait_for, title="Wait for an element or text", read_only=True,
                 description=d["wait_for"]),
            tool(self.emulate, title="Throttle CPU and network", read_only=False,
                 idempotent=True, description=d["emulate"]),
        ]

    async def navigate(self, session: SessionId, url: Annotated[str, Field(
            description="path relative to the app (/cart) or a full URL")],
            timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        return await self._do(ctx, session, "navigate", lambda page: page.act(
            "goto", page.relative(url), label=url, timeout_s=timeout))

    async def click(self, session: SessionId, ref: Ref = None, selector: Selector = None,
                    timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        return await self._on_element(ctx, session, "click", ref, selector, timeout,
                                      lambda s: s)

    async def hover(self, session: SessionId, ref: Ref = None, selector: Selector = None,
                    timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        return await self._on_element(ctx, session, "hover", ref, selector, timeout,
                                      lambda s: s)

    async def fill(self, session: SessionId, value: Annotated[str, Field(
            description="the text to type")], ref: Ref = None, selector: Selector = None,
            timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        return await self._on_element(ctx, session, "fill", ref, selector, timeout,
                                      lambda s: {"selector": s, "value": value})

    async def select(self, session: SessionId, values: Annotated[str | list[str], Field(
            description="option value(s) or label(s)")], ref: Ref = None,
            selector: Selector = None, timeout: Timeout = None,
            ctx: Context | None = None) -> ActionResult:
        return await self._on_element(ctx, session, "select", ref, selector, timeout,
                                      lambda s: {"selector": s, "value": values})

    async def press(self, session: SessionId, key: Annotated[str, Field(
            description="key or chord, e.g. 'Enter', 'Tab', 'Control+A'")], ref: Ref = None,
            selector: Selector = None, timeout: Timeout = None,
            ctx: Context | None = None) -> ActionResult:
        if ref is None and selector is None:
            return await self._do(ctx, session, "press", lambda page: page.act(
                "press", {"key": key}, label=key, timeout_s=timeout))
        return await self._on_element(ctx, session, "press", ref, selector, timeout,
                                      lambda s: {"key": key, "selector": s})

    async def evaluate(self, session: SessionId, expression: Annotated[str, Field(
            description="a JavaScript expression, e.g. 'document.title' or "
                        "'fetch(\"/api/cart\").then(r => r.status)'")],
            timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        label = expression if len(expression) <= 60 else expression[:57] + "..."
        return await self._do(ctx, session, "evaluate", lambda page: page.act(
            "evaluate", expression, label=label, timeout_s=timeout))

    async def wait_for(self, session: SessionId, ref: Ref = None, selector: Selector = None,
                       text: Annotated[str | None, Field(
                           description="text that must become visible on the page")] = None,
                       state: Annotated[str, Field(
                           pattern="^(visible|hidden|attached|detached)$",
                           description="the element's state to wait for")] = "visible",
                       timeout: Timeout = None, ctx: Context | None = None) -> ActionResult:
        if text is None:
            return await self._on_element(ctx, session, "wait_for", ref, selector, timeout,
                                          lambda s: {"selector": s, "state": state})

        def run(page: LivePage) -> Outcome:
            if ref is not None or selector is not None:
                raise UsageError("give text, or an element (ref or selector), not both")
            return page.act("wait_for", {"text": text}, label=f"text {text!r}",
                            timeout_s=timeout)
        return await self._do(ctx, session, "wait_for", run)

    async def emulate(self, session: SessionId,
                      cpu: Annotated[float | None, Field(
                          ge=1, le=50, description="CPU slowdown rate (1 = none)")] = None,
                      network: Annotated[Preset | None, Field(
                          description="network preset")] = None,
                      latency_ms: Annotated[float | None, Field(ge=0)] = None,
                      download_kbps: Annotated[float | None, Field(gt=0)] = None,
                      upload_kbps: Annotated[float | None, Field(gt=0)] = None,
                      reset: bool = False, ctx: Context | None = None) -> Emulation:
        def run(page: LivePage) -> Emulation:
            args = emulate_args(cpu, network, latency_ms, download_kbps, upload_kbps, reset)
            outcome = page.act("emulate", args, label=network or ("reset" if reset else ""))
            return Emulation(session=session, cpu_rate=page.emulation.cpu_rate,
                             network=dict(page.emulation.network), step=outcome.step,
                             mark=outcome.mark.id)

        owner = client_of(ctx)
        return await self.host.job(lambda: self.apps.get(session, owner).on_page(run))

    # -- internals ---------------------------------------------------------------------------
    async def _on_element(self, ctx: Context | None, session: str, action: str, ref: str | None,
                          selector: str | None, timeout: float | None,
                          fields: Callable[[str], Any]) -> ActionResult:
        def run(page: LivePage) -> Outcome:
            target = resolve(page.page, page.refs, ref, selector)
            chosen = target.recorded or target.act_selector
            return page.act(action, fields(chosen), target=target, timeout_s=timeout)
        return await self._do(ctx, session, action, run)

    async def _do(self, ctx: Context | None, session: str, action: str,
                  run: Callable[[LivePage], Outcome]) -> ActionResult:
        owner = client_of(ctx)

        def work() -> ActionResult:
            return action_result(session, action, self.apps.get(session, owner).on_page(run))
        return await self.host.job(work)


def action_result(session: str, action: str, outcome: Outcome) -> ActionResult:
    errors, requests, failed = counts(outcome.browser)
    result = outcome.result
    return ActionResult(
        session=session, action=action, ok=result.ok, message=outcome.message,
        step=outcome.step, selector=outcome.selector, url=outcome.url, mark=outcome.mark.id,
        result=result.evidence.get("result"), errors=errors, requests=requests,
        failed_requests=failed,
        evidence={k: str(v) for k, v in result.evidence.items()
                  if k in ("screenshot", "dom", "aria")})

