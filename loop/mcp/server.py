"""`cleanloop mcp`: an MCP server on stdio so coding agents can reproduce, inspect and verify.

    tools: run_scenario, query, list_failures, verify        (same contracts as the CLI)
           start_app, screenshot, snapshot, stop_app         (a live app + browser page)

Blocking work runs on worker threads (a live app's browser on its own thread, see
cleanloop.loop.mcp.apps), so the protocol stays responsive. A CleanloopError becomes a tool error
carrying its message; the server keeps serving. When the server ends (stdin closed,
SIGTERM or SIGINT) every live app is stopped, and any process the server started that
is still alive (a run in flight, say) has its process group killed: no orphans.
Logs go to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from cleanloop import __version__
from cleanloop.loop.base.errors import CleanloopError
from cleanloop.loop.mcp import tools as mcp_tools
from cleanloop.loop.mcp.live_tools import LiveTools
from cleanloop.loop.mcp.registry import tool
from cleanloop.loop.mcp.resources import register_resources
from cleanloop.probes.browser_process import read_proc

logger = logging.getLogger(__name__)

T = TypeVar("T")
# An MCP client closes stdin, waits 2 s, sends SIGTERM, waits 2 s, then SIGKILLs the server's
# group (not the apps' groups), so everything must be stopped within about 4 s of stdin closing.
STOP_ALL_TIMEOUT_S = 3.0    # graceful stop of the live apps at exit; then their groups are killed
REAP_GRACE_S = 0.5

INSTRUCTIONS = (
    "cleanloop boots the app under test, drives it (HTTP, load, a real Chromium), collects its "
    "logs, traces and metrics, and checks them against a scenario's SLIs. Typical loop: "
    "run_scenario -> list_failures / query the run's tables -> edit code -> run_scenario again "
    "-> verify the change against the base revision. start_app + screenshot/snapshot let you "
    "look at the live app; stop_app when done. Paths are relative to the repository.")

DESCRIPTIONS = {
    "run_scenario": (
        "Boot the app described by a scenario YAML file (path relative to the repository), run "
        "its steps `repeat` times against the current working tree, collect telemetry and "
        "evaluate the scenario's checks. Returns verdict ('pass' when every check holds, "
        "'fail' otherwise), run_id and run_dir (use them with query / list_failures), summary "
        "(one text line per check with its value) and failing (each failing check with value, "
        "threshold and evidence such as slowest spans, top error logs, console errors, "
        "screenshot/DOM paths). Relative targets need a baseline: use verify for those."),
    "query": (
        "Run DuckDB SQL over a run's tables: spans, logs, metrics, browser (documented columns; "
        "timestamps are UTC ns, attributes are JSON strings; every row has `repeat`). `run` is "
        "a run directory, a run id or id prefix, or 'last'. Returns columns, rows (at most "
        "`limit`), row_count (before truncation) and truncated. Example: SELECT name, "
        "count(*), quantile_cont(duration_ms, 0.95) FROM spans GROUP BY 1."),
    "list_failures": (
        "The failing checks of a finished run (its verdict.json): for each, check (source text), "
        "kind, role, value, threshold and evidence (slowest spans with trace ids, top error log "
        "messages, console/page errors, failed requests, screenshot/DOM/aria paths). An empty "
        "list means every check passed. `run`: run directory, run id (prefix) or 'last'."),
    "verify": (
        "A/B-test a change: runs the scenario (read from the base revision) interleaved on the "
        "base and the candidate, each in its own git worktree, and applies the statistical gate "
        "to its checks, targets and guards. Give exactly one of candidate (a git revision) or "
        "patch (a patch file path, or the unified diff text itself, applied on top of base). "
        "The user's working tree is never modified. Returns verdict ('accept', 'reject' or "
        "'inconclusive'), reason, table (one line per SLI: medians, ratio with CI, p-value, "
        "threshold, result), failing and run_dir. Slow: many app boots."),
}

ScenarioPath = Annotated[str, Field(description="scenario YAML file, relative to the repository")]
RunRef = Annotated[str, Field(description="run directory, run id or id prefix, or 'last'")]


class CleanloopMcp:
    """The tools bound to one working directory, and the server's lifecycle."""

    def __init__(self, env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.cwd = (cwd or Path.cwd()).resolve()
        #: the environment the command line read once; tools and live apps get it
        self.env = dict(env)
        self.live = LiveTools(self)
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    # -- running blocking work ---------------------------------------------------------------
    def _counted(self, fn: Callable[[], T]) -> T:
        with self._inflight_lock:
            self._inflight += 1
        try:
            return fn()
        finally:
            with self._inflight_lock:
                self._inflight -= 1

    async def job(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread; a CleanloopError becomes a tool error."""
        try:
            return await anyio.to_thread.run_sync(
                self._counted, functools.partial(fn, *args), abandon_on_cancel=True)
        except CleanloopError as exc:
            raise ToolError(str(exc)) from exc
        except ToolError:
            raise
        except Exception as exc:
            logger.exception("mcp: %s failed unexpectedly", getattr(fn, "__name__", fn))
            raise ToolError(f"internal error ({type(exc).__name__}): {exc}") from exc

    @property
    def inflight(self) -> int:
        with self._inflight_lock:
            return self._inflight

    # -- the tools -----------------------------------------------------------------------------
    def build(self) -> MCPServer[Any]:
        tools = [
            tool(self.run_scenario, title="Run a scenario", read_only=False,
                 description=DESCRIPTIONS["run_scenario"]),
            tool(self.query, title="SQL over a run's telemetry", read_only=True,
                 description=DESCRIPTIONS["query"]),
            tool(self.list_failures, title="Failing checks of a run", read_only=True,
                 description=DESCRIPTIONS["list_failures"]),
            tool(self.verify, title="A/B-verify a change", read_only=False,
                 description=DESCRIPTIONS["verify"]),
            *self.live.tools(),
        ]
        server: MCPServer[Any] = MCPServer("cleanloop", instructions=INSTRUCTIONS,
                                           version=__version__, tools=tools)
        register_resources(server, self)
        return server

    async def run_scenario(
            self, scenario: ScenarioPath,
            repeat: Annotated[int, Field(ge=1, description="repetitions in this run")] = 1,
    ) -> dict[str, Any]:
        return await self.job(mcp_tools.run_tool, self.cwd, self.env, scenario, repeat)

    async def query(
            self, run: RunRef,
            sql: Annotated[str, Field(description="DuckDB SQL over spans, logs, metrics, browser")],
            limit: Annotated[int, Field(ge=1, description="maximum rows returned")] = 200,
    ) -> dict[str, Any]:
        return await self.job(mcp_tools.query_tool, self.cwd, self.env, run, sql, limit)

    async def list_failures(self, run: RunRef = "last") -> list[dict[str, Any]]:
        return await self.job(mcp_tools.failures_tool, self.cwd, self.env, run)

    async def verify(
            self, scenario: ScenarioPath,
            base: Annotated[str, Field(description="baseline git revision")] = "HEAD",
            candidate: Annotated[str | None, Field(description="candidate git revision")] = None,
            patch: Annotated[str | None, Field(
                description="patch file path, or unified diff text, applied on base")] = None,
    ) -> dict[str, Any]:
        return await self.job(mcp_tools.verify_tool, self.cwd, self.env, scenario, base,
                               candidate, patch)

    # -- lifecycle -----------------------------------------------------------------------------
    async def serve_stdio(self, server: MCPServer[Any]) -> None:
        """Serve until stdin closes or SIGTERM/SIGINT arrives."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_signals, tg.cancel_scope)
            await server.run_stdio_async()
            tg.cancel_scope.cancel()

    async def _watch_signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("mcp: got %s, stopping", signal.Signals(signum).name)
                # stop the apps before cancelling: the stdin reader may not notice a cancel
                await anyio.to_thread.run_sync(self.shutdown, abandon_on_cancel=True)
                scope.cancel()
                _exit_soon(128 + signum)
                return

    def shutdown(self) -> None:
        """Stop every live app, then kill whatever the server started that still runs."""
        late = self.live.shutdown(STOP_ALL_TIMEOUT_S)
        if late:
            logger.warning("mcp: sessions %s did not stop in time; killing them", late)
        reap_descendants(REAP_GRACE_S)


def _exit_soon(code: int, delay_s: float = 2.0) -> None:
    """Exit even if a cancelled blocking read keeps the event loop from returning."""
    timer = threading.Timer(delay_s, _hard_exit, args=(code,))
    timer.daemon = True
    timer.start()


def _hard_exit(code: int) -> None:
    sys.stderr.flush()
    os._exit(code)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (from /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = read_proc(int(entry))
            if info is not None and info.state not in ("Z", "X"):
                children.setdefault(info.ppid, []).append(info.pid)
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def reap_descendants(grace_s: float) -> list[int]:
    """SIGTERM every process this one started (their whole groups), SIGKILL after `grace_s`.

    Returns the pids that were found. Our own process group is never signalled as a group.
    """
    found = descendants(os.getpid())
    if not found:
        return []
    logger.warning("mcp: %d child process(es) still running at exit; stopping them", len(found))
    _signal_all(found, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.02)
    _signal_all([p for p in found if _alive(p)], signal.SIGKILL)
    return found


def _alive(pid: int) -> bool:
    info = read_proc(pid)
    return info is not None and info.state not in ("Z", "X")


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    own = os.getpgrp()
    for pid in pids:
        info = read_proc(pid)
        try:
            if info is not None and info.pgid not in (own, 0, 1):
                os.killpg(info.pgid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def serve(env: Mapping[str, str], cwd: Path | None = None) -> None:
    """Run the MCP server on stdio until the client goes away (`cleanloop mcp`)."""
    app = CleanloopMcp(env, cwd)
    server = app.build()
    try:
        anyio.run(app.serve_stdio, server)
    except KeyboardInterrupt:
        pass
    finally:
        # already shutting down: a client's SIGTERM must not cut the cleanup short
        previous = {sig: signal.signal(sig, signal.SIG_IGN)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            app.shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    if app.inflight:
        logger.warning("mcp: %d tool call(s) still running at exit; abandoning them",
                       app.inflight)
        _hard_exit(0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    serve(dict(os.environ))
