"""`cleanloop mcp`: an MCP server on stdio so coding agents can reproduce, inspect, act and verify.

    measurements  run_scenario, verify, verify_start/status/cancel   (measure_tools; one at a
                  time, progress notifications, real cancellation)
    reading       query, list_failures, and resources: runs, artifacts, table schemas
    live app      start_app, the page's actions and observations, save_scenario, stop_app
                  (live_tools; one browser context per client session)

The repository the tools work in is `--repo DIR`, else the first `file://` root the client
announces (read at the first tool call, again after roots/list_changed), else the working
directory. Blocking work runs on worker threads, so the protocol stays responsive. A
CleanloopError becomes a tool error carrying its message; the server keeps serving. When the
server ends (stdin closed, SIGTERM or SIGINT, the client killed) every measurement is
cancelled (its apps stopped, its worktrees removed), every live app is stopped, and any
process the server started that is still alive has its process group killed: no orphans.
Logs go to stderr; stdout carries only the protocol. A client that vanished is one line on
stderr, not a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from cleanloop import __version__
from cleanloop.loop.base.errors import CleanloopError
from cleanloop.loop.mcp.live_tools import LiveTools
from cleanloop.loop.mcp.measure_tools import MeasureTools
from cleanloop.loop.mcp.reap import reap_descendants
from cleanloop.loop.mcp.repo_roots import RepoFromRoots
from cleanloop.loop.mcp.resources import register_resources

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
    "-> verify the change against the base revision (verify_start + verify_status when your "
    "tool calls time out). start_app opens a live session: snapshot (element refs), act by ref "
    "(click, fill, press, select, hover, navigate, evaluate, wait_for), read console_messages, "
    "page_errors, network_requests and backend_telemetry (since your last action), then "
    "save_scenario to keep the reproduction as a scenario file; stop_app when done. Paths are "
    "relative to the repository.")

class CleanloopMcp:
    """The tools bound to one working directory, and the server's lifecycle."""

    def __init__(self, env: Mapping[str, str], cwd: Path | None = None) -> None:
        #: the repository: --repo when given (then never changed), else the client's first root
        #: (RepoFromRoots), else the working directory
        self.cwd = (cwd or Path.cwd()).resolve()
        self.repo_pinned = cwd is not None
        #: the environment the command line read once; tools and live apps get it
        self.env = dict(env)
        self.live = LiveTools(self)
        self.measure = MeasureTools(self, live_sessions=lambda: len(self.live.apps))
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
        tools = [*self.measure.tools(), *self.live.tools()]
        server: MCPServer[Any] = MCPServer("cleanloop", instructions=INSTRUCTIONS,
                                           version=__version__, tools=tools,
                                           middleware=[RepoFromRoots(self)])
        register_resources(server, self)
        return server

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
        """Cancel every measurement and stop every live app (in parallel, bounded), then kill
        whatever the server started that still runs."""
        self.measure.measurements.cancel_all()   # they stop at their next safe point
        late = self.live.shutdown(STOP_ALL_TIMEOUT_S)
        if late:
            logger.warning("mcp: sessions %s did not stop in time; killing them", late)
        late = self.measure.shutdown(STOP_ALL_TIMEOUT_S)
        if late:
            logger.warning("mcp: measurements %s did not stop in time; killing them", late)
        reap_descendants(REAP_GRACE_S)


def client_gone(exc: BaseException) -> bool:
    """True for an error that only says the client is gone (a broken or reset pipe), also when
    it comes wrapped in exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return all(client_gone(e) for e in exc.exceptions)
    return isinstance(exc, BrokenPipeError | ConnectionResetError | anyio.BrokenResourceError
                      | anyio.ClosedResourceError)


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _exit_soon(code: int, delay_s: float = 2.0) -> None:
    """Exit even if a cancelled blocking read keeps the event loop from returning."""
    timer = threading.Timer(delay_s, _hard_exit, args=(code,))
    timer.daemon = True
    timer.start()


def _hard_exit(code: int) -> None:
    sys.stderr.flush()
    os._exit(code)


def serve(env: Mapping[str, str], cwd: Path | None = None) -> None:
    """Run the MCP server on stdio until the client goes away (`cleanloop mcp`)."""
    app = CleanloopMcp(env, cwd)
    server = app.build()
    try:
        anyio.run(app.serve_stdio, server)
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        if not client_gone(exc):
            raise
        logger.warning("mcp: the client went away (%s); stopping", _first_line(exc))
        _silence_stdout()
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
