"""Executing a validated browser step (`BrowserAction`) against a page.

`perform()` returns the step's evidence. It raises Playwright's TimeoutError (or
`StepTimeout` for `evaluate`) when the step ran out of time, AssertionError when an
`expect_*` expectation does not hold, and Playwright's Error for anything else; the
caller (BrowserRun) turns those into StepResults.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, expect
from playwright.sync_api import Error as PlaywrightError

from cleanloop.loop.model.browser_steps import BrowserAction
from cleanloop.probes.browser_artifacts import artifact_path

logger = logging.getLogger(__name__)

MAX_RESULT_CHARS = 4000
_EVAL_TIMEOUT = "cleanloop: evaluate timed out"


class StepTimeout(Exception):
    """A step that has no Playwright timeout of its own (evaluate) ran out of time."""


@dataclass
class StepContext:
    page: Page
    cdp: CDPSession | None
    artifacts_dir: Path
    repeat: int
    index: int
    timeout_s: float

    @property
    def timeout_ms(self) -> float:
        return self.timeout_s * 1000.0


def perform(action: BrowserAction, ctx: StepContext) -> dict[str, Any]:
    """Run one action; returns evidence (status, paths, evaluate result ...)."""
    return _HANDLERS[action.name](dict(action.args), ctx)


def _goto(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    response = ctx.page.goto(args["url"], timeout=ctx.timeout_ms,
                             wait_until=args.get("wait_until", "load"))
    return {"url": ctx.page.url, "status": response.status if response is not None else None}


def _click(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.page.locator(args["selector"]).click(timeout=ctx.timeout_ms)
    return {}


def _hover(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.page.locator(args["selector"]).hover(timeout=ctx.timeout_ms)
    return {}


def _fill(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    ctx.page.locator(args["selector"]).fill(args["value"], timeout=ctx.timeout_ms)
    return {}


def _press(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if "selector" in args:
        ctx.page.locator(args["selector"]).press(args["key"], timeout=ctx.timeout_ms)
    else:
        ctx.page.keyboard.press(args["key"])
    return {}


def _select(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    chosen = ctx.page.locator(args["selector"]).select_option(args["value"],
                                                              timeout=ctx.timeout_ms)
    return {"selected": chosen}


def _wait_for(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    page, timeout = ctx.page, ctx.timeout_ms
    if "selector" in args:
        page.locator(args["selector"]).first.wait_for(state=args.get("state", "visible"),
                                                      timeout=timeout)
    elif "text" in args:
        page.get_by_text(args["text"]).first.wait_for(state="visible", timeout=timeout)
    elif "url" in args:
        page.wait_for_url(args["url"], timeout=timeout)
    else:
        page.wait_for_load_state("networkidle", timeout=timeout)
    return {"url": page.url}


def _expect_text(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    locator = ctx.page.locator(args["selector"])
    if args.get("exact"):
        expect(locator).to_have_text(args["text"], timeout=ctx.timeout_ms)
    else:
        expect(locator).to_contain_text(args["text"], timeout=ctx.timeout_ms)
    return {}


def _expect_visible(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    expect(ctx.page.locator(args["selector"]).first).to_be_visible(timeout=ctx.timeout_ms)
    return {}


def _expect_count(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    expect(ctx.page.locator(args["selector"])).to_have_count(args["count"],
                                                             timeout=ctx.timeout_ms)
    return {"count": args["count"]}


def _screenshot(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    path = artifact_path(ctx.artifacts_dir, "screenshots", ctx.repeat, ctx.index, args["name"],
                         ".png")
    ctx.page.screenshot(path=str(path), full_page=args.get("full_page", False),
                        timeout=ctx.timeout_ms)
    return {"screenshot": str(path)}


def _snapshot(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    html = artifact_path(ctx.artifacts_dir, "dom", ctx.repeat, ctx.index, args["name"], ".html")
    aria = html.with_name(html.name[: -len(".html")] + ".aria.yaml")
    html.write_text(ctx.page.content(), encoding="utf-8")
    aria.write_text(ctx.page.aria_snapshot(timeout=ctx.timeout_ms) + "\n", encoding="utf-8")
    return {"dom": str(html), "aria": str(aria)}


def _evaluate(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    expression = args["expression"]
    # The expression runs inside a wrapper that races it against the step timeout and
    # reports its own errors; if the wrapper does not even compile (statements rather than
    # an expression), the user's code never ran and a plain evaluate is used instead.
    wrapped = (
        "async (ms) => { let v; try { v = await Promise.race([(async () => (\n" + expression
        + "\n))(), new Promise((_, reject) => setTimeout(() => reject(new Error("
        + json.dumps(_EVAL_TIMEOUT) + ")), ms))]); if (typeof v === 'function') v = await v(); }"
        " catch (e) { return { error: String((e && e.stack) || e) }; } return { value: v }; }"
    )
    try:
        outcome = ctx.page.evaluate(wrapped, ctx.timeout_ms)
    except PlaywrightError as exc:
        if "SyntaxError" not in str(exc):
            raise
        return {"result": _jsonable(ctx.page.evaluate(expression))}
    if isinstance(outcome, dict) and "error" in outcome:
        message = str(outcome["error"])
        if _EVAL_TIMEOUT in message:
            raise StepTimeout(message)
        raise PlaywrightError(message)
    return {"result": _jsonable(outcome.get("value") if isinstance(outcome, dict) else None)}


def _emulate(args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    if ctx.cdp is None:
        raise PlaywrightError("emulate needs a CDP session (Chromium only)")
    if "cpu" in args:
        ctx.cdp.send("Emulation.setCPUThrottlingRate", {"rate": args["cpu"]})
    network = args.get("network")
    if network is not None:
        ctx.cdp.send("Network.enable")
        conditions = {
            "offline": bool(network.get("offline", False)),
            "latency": network.get("latency_ms", 0.0),
            "downloadThroughput": _bytes_per_s(network.get("download_kbps")),
            "uploadThroughput": _bytes_per_s(network.get("upload_kbps")),
        }
        try:
            ctx.cdp.send("Network.emulateNetworkConditions", conditions)
        except PlaywrightError:  # removed in some future Chrome: the per-rule replacement
            offline = conditions.pop("offline")
            ctx.cdp.send("Network.emulateNetworkConditionsByRule", {
                "matchedNetworkConditions": [{"urlPattern": "", **conditions}]})
            ctx.cdp.send("Network.overrideNetworkState", {
                "offline": offline, "latency": 0, "downloadThroughput": -1,
                "uploadThroughput": -1})
    return {"emulate": dict(args)}


def _bytes_per_s(kbps: float | None) -> float:
    """kilobits/s (1000 bits) to CDP bytes/s; -1 disables throttling."""
    return -1.0 if not kbps else kbps * 1000.0 / 8.0


def _jsonable(value: Any) -> Any:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
        value = repr(value)
    if len(text) > MAX_RESULT_CHARS:
        return text[:MAX_RESULT_CHARS] + "..."
    return value


_HANDLERS: dict[str, Callable[[dict[str, Any], StepContext], dict[str, Any]]] = {
    "goto": _goto, "click": _click, "fill": _fill, "press": _press, "select": _select,
    "hover": _hover, "wait_for": _wait_for, "expect_text": _expect_text,
    "expect_visible": _expect_visible, "expect_count": _expect_count,
    "screenshot": _screenshot, "snapshot": _snapshot, "evaluate": _evaluate,
    "emulate": _emulate,
}
