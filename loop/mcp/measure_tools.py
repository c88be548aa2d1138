"""The MCP tools that measure or read measurements: run_scenario, verify (and its start-then-poll
form verify_start / verify_status / verify_cancel), query, list_failures.

run_scenario and verify are measurements (cleanloop.loop.mcp.jobs): they run one at a time on
this server (a call made meanwhile is queued and its progress says behind what), report
progress notifications (phase, run k of n, the current estimate) while they run, and stop for
real when the client cancels: the cancel token stops the work at its next safe point, its apps
and browsers are stopped and its worktrees removed before the call returns (bounded by
CANCEL_WAIT_S). verify_start returns a job id at once, for clients whose tool calls time out
(60 s is common); verify_status polls it (optionally waiting up to 50 s), verify_cancel stops it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp_types import CallToolResult
from pydantic import Field

from cleanloop.loop.base.errors import Cancelled, CleanloopError
from cleanloop.loop.mcp import tools as mcp_tools
from cleanloop.loop.mcp.jobs import Job, Measurements
from cleanloop.loop.mcp.registry import ToolHost, tool
from cleanloop.loop.mcp.result_content import call_result, failure_images
from cleanloop.loop.mcp.results import (
    Failure,
    JobStarted,
    JobStatus,
    QueryResult,
    RunResult,
    VerifyResult,
)
from cleanloop.loop.run.progress import Progress

logger = logging.getLogger(__name__)

T = TypeVar("T")
FOLLOW_POLL_S = 0.2    # how often a running call looks for news to report
CANCEL_WAIT_S = 4.0    # how long a cancelled call waits for its cleanup before returning
CANCEL_STATUS_WAIT_S = 10.0   # verify_cancel answers once the job ended, or after this
MAX_STATUS_WAIT_S = 50.0

ScenarioPath = Annotated[str, Field(description="scenario YAML file, relative to the repository")]
RunRef = Annotated[str, Field(description="run directory, run id or id prefix, or 'last' "
                                          "(the newest finished run)")]
Base = Annotated[str, Field(description="baseline git revision")]
Candidate = Annotated[str | None, Field(description="candidate git revision")]
Patch = Annotated[str | None, Field(
    description="patch file path, or unified diff text, applied on base")]
Runs = Annotated[int | None, Field(ge=2, description="runs per side at the first look "
                                                     "(default: the scenario's plan, 6)")]
MaxRuns = Annotated[int | None, Field(ge=2, description="cap of runs per side (default 18)")]
Budget = Annotated[float | None, Field(gt=0, description=(
    "wall-clock budget in seconds: no new run starts after it; the verdict is then "
    "inconclusive, never accept"))]
JobId = Annotated[str, Field(description="the job id returned by verify_start")]

ONE_AT_A_TIME = (" Measurements run one at a time on this server: a call made while another "
                 "runs is queued (its progress says behind what), never run alongside it. "
                 "Sends progress notifications; cancelling the call stops its apps and "
                 "removes its worktrees.")
DESCRIPTIONS = {
    "run_scenario": (
        "Boot the app described by a scenario YAML file (path relative to the repository), run "
        "its steps `repeat` times against the current working tree, collect telemetry and "
        "evaluate the scenario's checks. Returns verdict ('pass' when every check holds, "
        "'fail' otherwise), run_id and run_dir (use them with query / list_failures), summary "
        "(one text line per check with its value) and failing (each failing check with value, "
        "threshold and evidence such as slowest spans, top error logs, console errors, "
        "screenshot/DOM paths). Relative targets need a baseline: use verify for those."
        + ONE_AT_A_TIME),
    "query": (
        "Run one DuckDB SQL statement over a run's tables: spans, logs, metrics, browser "
        "(documented columns, see the cleanloop://schema/{table} resources; timestamps are UTC "
        "ns, attributes are JSON strings; every row has `repeat`). Only the run's tables are "
        "reachable: files, extensions and settings are locked. `run` is a run directory, a run "
        "id or id prefix, or 'last' (the newest finished run). Returns columns, rows (at most "
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
        "Bounds: runs (per side at the first look), max_runs (cap per side), budget (seconds). "
        "The user's working tree is never modified. Returns verdict ('accept', 'reject' or "
        "'inconclusive'), reason, table (one line per SLI), rows (the same as numbers), "
        "failing and run_dir. Slow: many app boots; clients with short tool timeouts use "
        "verify_start + verify_status." + ONE_AT_A_TIME),
    "verify_start": (
        "Start a verify (same arguments as verify) in the background and return at once with "
        "job (its id) and state ('queued' or 'running'). Poll it with verify_status, stop it "
        "with verify_cancel. For clients whose tool calls time out before a verify ends."),
    "verify_status": (
        "The state of a verify_start job: state (queued, running, done, failed, cancelled), "
        "phase (what it is doing: which side, run k of n, the current estimate), elapsed_s, "
        "and when done the verify result (as verify returns it) or the error. wait_s (at most "
        "50) waits for the job to end before answering."),
    "verify_cancel": (
        "Cancel a verify_start job: it stops at its next safe point, stops its apps and removes "
        "its worktrees. Returns the job's state after the cleanup (bounded wait)."),
}


class MeasureTools:
    """The run/verify/query tools of one server and the measurement jobs they started."""

    def __init__(self, host: ToolHost, live_sessions: Callable[[], int] = lambda: 0) -> None:
        self.host = host
        self.measurements = Measurements()
        #: live sessions (start_app) running now: their apps and browsers share the machine
        self.live_sessions = live_sessions

    def _say_if_shared(self, progress: Progress) -> None:
        if n := self.live_sessions():
            progress.phase(f"note: {n} live session(s) from start_app keep running during this "
                           "measurement and share the machine with it; stop_app them for "
                           "quieter timings")

    def tools(self) -> list[Tool]:
        d = DESCRIPTIONS
        return [
            tool(self.run_scenario, title="Run a scenario", read_only=False,
                 description=d["run_scenario"]),
            tool(self.query, title="SQL over a run's telemetry", read_only=True,
                 description=d["query"]),
            tool(self.list_failures, title="Failing checks of a run", read_only=True,
                 description=d["list_failures"]),
            tool(self.verify, title="A/B-verify a change", read_only=False,
                 description=d["verify"]),
            tool(self.verify_start, title="Start a verify in the background", read_only=False,
                 description=d["verify_start"]),
            tool(self.verify_status, title="State of a background verify", read_only=True,
                 description=d["verify_status"]),
            tool(self.verify_cancel, title="Cancel a background verify", read_only=False,
                 idempotent=True, description=d["verify_cancel"]),
        ]

    # -- measurements ------------------------------------------------------------------------
    async def run_scenario(
            self, scenario: ScenarioPath,
            repeat: Annotated[int, Field(ge=1, description="repetitions in this run")] = 1,
            ctx: Context | None = None,
    ) -> Annotated[CallToolResult, RunResult]:
        cwd, env = self.host.cwd, self.host.env

        def work(progress: Progress) -> RunResult:
            self._say_if_shared(progress)
            return mcp_tools.run_tool(cwd, env, scenario, repeat, progress=progress)

        result = await self._follow(self.measurements.submit("run_scenario", scenario, work),
                                    ctx)
        return call_result(result, failure_images(result.failing))

    async def verify(self, scenario: ScenarioPath, base: Base = "HEAD",
                     candidate: Candidate = None, patch: Patch = None, runs: Runs = None,
                     max_runs: MaxRuns = None, budget: Budget = None,
                     ctx: Context | None = None) -> Annotated[CallToolResult, VerifyResult]:
        job = self._submit_verify(scenario, base, candidate, patch, runs, max_runs, budget)
        result = await self._follow(job, ctx)
        return call_result(result, failure_images(result.failing))

    async def verify_start(self, scenario: ScenarioPath, base: Base = "HEAD",
                           candidate: Candidate = None, patch: Patch = None, runs: Runs = None,
                           max_runs: MaxRuns = None, budget: Budget = None) -> JobStarted:
        job = self._submit_verify(scenario, base, candidate, patch, runs, max_runs, budget)
        return JobStarted(job=job.id, state=job.state)

    async def verify_status(self, job: JobId, wait_s: Annotated[float, Field(
            ge=0, le=MAX_STATUS_WAIT_S, description="seconds to wait for the job to end")] = 0.0,
    ) -> JobStatus:
        found = self._job(job)
        if wait_s > 0 and not found.future.done():
            await anyio.to_thread.run_sync(found.wait, wait_s, abandon_on_cancel=True)
        return status_of(found)

    async def verify_cancel(self, job: JobId) -> JobStatus:
        found = self._job(job)
        found.cancel()
        await anyio.to_thread.run_sync(found.wait, CANCEL_STATUS_WAIT_S, abandon_on_cancel=True)
        return status_of(found)

    # -- reading -----------------------------------------------------------------------------
    async def query(
            self, run: RunRef,
            sql: Annotated[str, Field(description="one DuckDB SQL statement over spans, logs, "
                                                  "metrics, browser")],
            limit: Annotated[int, Field(ge=1, description="maximum rows returned")] = 200,
    ) -> QueryResult:
        return await self.host.job(
            mcp_tools.query_tool, self.host.cwd, self.host.env, run, sql, limit)

    async def list_failures(self, run: RunRef = "last") -> Annotated[CallToolResult,
                                                                        list[Failure]]:
        failing = await self.host.job(mcp_tools.failures_tool, self.host.cwd, self.host.env,
                                      run)
        return call_result(failing, failure_images(failing))

    # -- internals ---------------------------------------------------------------------------
    def _submit_verify(self, scenario: str, base: str, candidate: str | None,
                       patch: str | None, runs: int | None, max_runs: int | None,
                       budget: float | None) -> Job[VerifyResult]:
        cwd, env = self.host.cwd, self.host.env

        def work(progress: Progress) -> VerifyResult:
            self._say_if_shared(progress)
            return mcp_tools.verify_tool(
                cwd, env, scenario, base, candidate, patch, runs=runs, max_runs=max_runs,
                budget_s=budget, progress=progress)

        try:
            return self.measurements.submit("verify", scenario, work,
                                            headline_prefix="verify ")
        except CleanloopError as exc:
            raise ToolError(str(exc)) from exc

    def _job(self, job_id: str) -> Job[Any]:
        try:
            return self.measurements.get(job_id)
        except CleanloopError as exc:
            raise ToolError(str(exc)) from exc

    async def _follow(self, job: Job[T], ctx: Context | None) -> T:
        """Wait for `job`, reporting its progress; cancel it (and wait for its cleanup) when
        this call is cancelled."""
        try:
            while True:
                done = job.future.done()
                for updates, text in job.progress.drain():
                    if ctx is not None:
                        await _report(ctx, updates, text)
                if done:
                    break
                await anyio.sleep(FOLLOW_POLL_S)
        except anyio.get_cancelled_exc_class():
            job.cancel()
            with anyio.CancelScope(shield=True):
                ended = await anyio.to_thread.run_sync(job.wait, CANCEL_WAIT_S)
            logger.info("mcp: %s %s cancelled by the client%s", job.kind, job.id,
                        "" if ended else f"; still cleaning up after {CANCEL_WAIT_S} s")
            raise
        return unwrap(job)

    def shutdown(self, timeout_s: float) -> list[str]:
        """Cancel every measurement and wait (bounded) for their cleanup; returns the ids of
        the jobs still running after `timeout_s`."""
        jobs = self.measurements.cancel_all()
        deadline = time.monotonic() + timeout_s   # one bound for all of them, not one each
        return [job.id for job in jobs if not job.wait(deadline - time.monotonic())]


async def _report(ctx: Context, updates: int, text: str) -> None:
    try:
        await ctx.report_progress(updates, None, text)
    except Exception as exc:  # a client gone mid-call must not fail the work
        logger.debug("mcp: progress notification not sent: %s", exc)


def unwrap(job: Job[T]) -> T:
    """The job's result, or the tool error it ended with."""
    exc = job.future.exception()
    if exc is None:
        return job.future.result()
    if isinstance(exc, Cancelled):
        raise ToolError(f"{job.kind} {job.description} was cancelled; its apps were stopped "
                        "and its worktrees removed")
    if isinstance(exc, CleanloopError):
        raise ToolError(str(exc)) from exc
    logger.error("mcp: %s %s failed unexpectedly", job.kind, job.id, exc_info=exc)
    raise ToolError(f"internal error ({type(exc).__name__}): {exc}") from exc


def status_of(job: Job[VerifyResult]) -> JobStatus:
    """What verify_status answers about `job`."""
    updates, phase = job.progress.latest()
    result: VerifyResult | None = None
    error: str | None = None
    if job.future.done():
        try:
            result = unwrap(job)
        except ToolError as exc:
            error = str(exc)
    return JobStatus(job=job.id, state=job.state, phase=phase, updates=updates,
                     elapsed_s=job.elapsed_s(), result=result, error=error)
