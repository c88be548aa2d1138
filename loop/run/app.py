"""AppUnderTest: one boot of the app with its collectors, from spawn to the last flush.

    ports -> OTLP receiver + process log capture -> launcher (registry, `app.launcher`)
    starts the app with the telemetry env -> readiness (start-up measured spawn -> ready;
    polled in a thread while the browser context opens, when there is a browser)
    -> Prometheus scraper (app.metrics)
    ... the caller drives the app (steps) ...
    end_steps(): mark the intake -> close the browser context -> quiesce: wait (bounded)
    for the app's last OTLP exports (cleanloop.loop.run.quiesce)
    stop(): final scrape -> stop the app -> flush every collector under one shared
    deadline -> RunData (with the rows that arrived after the last step)

    with AppUnderTest(scenario, project_dir, store, progress, env) as app:
        ... steps against app.base_url ...
        app.end_steps()
    app.data  # RunData

`start()`/`stop()` are the same without the block, for an app kept running until asked
(the MCP live apps). Every started part is stopped on every exit path, Ctrl-C included: a
failing `start()` stops what it started before it raises, and `stop()` is idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cleanloop.collectors.base import Collector
from cleanloop.collectors.otlp_receiver import OtlpReceiver
from cleanloop.collectors.process_logs import ProcessLogCapture
from cleanloop.loop.base.envvars import telemetry_env
from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.base.schema import Columns
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.steps import StepResult
from cleanloop.loop.run import quiesce
from cleanloop.loop.run.launchers import launcher_for
from cleanloop.loop.run.launchers.base import AppHandle, Launcher, LaunchPlan, format_command
from cleanloop.loop.run.progress import Progress
from cleanloop.probes import readiness

if TYPE_CHECKING:
    from cleanloop.collectors.prometheus_scraper import PrometheusScraper
    from cleanloop.loop.store.run_store import RunStore
    from cleanloop.probes.browser import BrowserRun, BrowserSession

logger = logging.getLogger(__name__)

FLUSH_DEADLINE_S = 5.0


class AppUnderTest:
    """The app of `scenario`, booted from `project_dir` with its collectors (one repetition)."""

    def __init__(self, scenario: Scenario, project_dir: Path, store: RunStore,
                 progress: Progress, base_env: Mapping[str, str], *,
                 browser: BrowserSession | None = None, repeat: int = 0,
                 label: str | None = None, on_spawn: Callable[[], None] | None = None) -> None:
        self.scenario = scenario
        self.spec = scenario.app
        self.project_dir = project_dir
        self.store = store
        self.progress = progress
        self.base_env = dict(base_env)
        self.browser = browser
        self.label = label or f"[{scenario.name}]"
        #: called right after the app is spawned (work that can overlap its boot)
        self.on_spawn = on_spawn
        #: what this boot produced (filled while it runs, complete after stop())
        self.data = RunData(repeat)
        # an unknown launcher fails here, before anything is started
        self._launcher_factory = launcher_for(self.spec, scenario.path)
        self.receiver: OtlpReceiver | None = None
        self.capture: ProcessLogCapture | None = None
        self.scraper: PrometheusScraper | None = None
        self._launcher: Launcher | None = None
        self._handle: AppHandle | None = None
        #: the repetition's browser context (when there is a browser), until end_steps()
        self.browser_run: BrowserRun | None = None
        #: the app's environment (base env + telemetry env + the scenario's app.env)
        self.env: dict[str, str] = {}
        #: the exit code the app's stop returned (None until stopped, or when never spawned)
        self.stop_code: int | None = None
        self._mark: quiesce.Mark | None = None
        self._started = self._stopped = False

    # -- what the caller drives the app with ------------------------------------------------
    @property
    def launcher(self) -> Launcher:
        assert self._launcher is not None, "the app is not started"
        return self._launcher

    @property
    def handle(self) -> AppHandle:
        assert self._handle is not None, "the app is not started"
        return self._handle

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    @property
    def startup_ms(self) -> float | None:
        return self.data.startup_ms

    @property
    def collectors(self) -> list[Collector]:
        """The started collectors, in the order they are drained."""
        parts: list[Collector] = [] if self.scraper is None else [self.scraper]
        if self.receiver is not None and self.capture is not None:
            parts += [self.receiver, self.capture]
        return parts

    def telemetry_counts(self) -> dict[str, int]:
        """Rows collected so far per source ("otlp:spans", "otlp:logs", "otlp:metrics",
        "process:logs", "prometheus:metrics"), a mark for `peek_telemetry`."""
        counts: dict[str, int] = {}
        if self.receiver is not None:
            for table in ("spans", "logs", "metrics"):
                counts[f"otlp:{table}"] = self.receiver.row_count(table)
        if self.capture is not None:
            counts["process:logs"] = self.capture.row_count()
        if self.scraper is not None:
            counts["prometheus:metrics"] = self.scraper.row_count()
        return counts

    def peek_telemetry(self, start: Mapping[str, int] | None = None) -> dict[str, Columns]:
        """A read-only copy of the telemetry collected so far, by source (the keys of
        `telemetry_counts`), each from its row `start[source]` on; nothing is drained, so the
        run's tables still get every row at stop()."""
        start = start or {}
        out: dict[str, Columns] = {}
        if self.receiver is not None:
            for table in ("spans", "logs", "metrics"):
                key = f"otlp:{table}"
                out[key] = self.receiver.peek(table, start.get(key, 0))
        if self.capture is not None:
            out["process:logs"] = self.capture.peek(start.get("process:logs", 0))
        if self.scraper is not None:
            out["prometheus:metrics"] = self.scraper.peek(start.get("prometheus:metrics", 0))
        return out

    @property
    def running(self) -> bool:
        """Started and not yet stopped (the app itself may have exited meanwhile)."""
        return self._started and not self._stopped

    # -- boot ---------------------------------------------------------------------------------
    def __enter__(self) -> AppUnderTest:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AppUnderTest:
        """Boot the app with its collectors and wait until it is ready (LaunchError if not)."""
        if self._started:
            raise RuntimeError("an AppUnderTest boots once; make a new one per repetition")
        self._started = True
        spec = self.spec
        port = self.pick_port()
        self.receiver = receiver = OtlpReceiver()
        self.capture = capture = ProcessLogCapture(self.store.app_log, service=spec.service)
        self._launcher = launcher = self._launcher_factory(
            LaunchPlan(spec, self.project_dir, port, capture))
        try:
            receiver.start()
            capture.start()
            self.env = {**self.base_env, **telemetry_env(receiver.endpoint, spec.service, port),
                        **{k: format_command(v, port) for k, v in spec.env.items()}}
            self.progress.checkpoint()
            self.progress.phase(f"{self.label}: booting the app")
            self._handle = handle = launcher.start(self.env)
            if self.on_spawn is not None:
                self.on_spawn()
            if self.browser is None:
                ok, startup_ms = self.poll_ready(self._alive_unless_cancelled)
                self.data.startup_ms = self.ready_or_raise(ok, startup_ms)
            else:
                # the browser context opens while the app boots; readiness is polled (and
                # start-up timed) in a thread meanwhile, as Playwright's sync API is bound
                # to this one
                with ReadinessWatch(self.poll_ready, self.ready_or_raise,
                                    self._alive_unless_cancelled) as watch:
                    self.browser_run = self.browser.open(base_url=handle.base_url,
                                                         artifacts_dir=self.store.dir,
                                                         repeat=self.data.repeat)
                    self.data.startup_ms = watch.result()
            if spec.metrics_path:
                from cleanloop.collectors.prometheus_scraper import PrometheusScraper

                self.scraper = PrometheusScraper(handle.base_url + spec.metrics_path,
                                                 interval_s=spec.scrape_interval_s)
                self.scraper.start()
        except BaseException:
            self.stop()
            raise
        return self

    def pick_port(self) -> int:
        fixed = self.spec.port
        if fixed is None:
            return readiness.free_port()
        if not readiness.port_is_free("127.0.0.1", fixed):
            raise LaunchError(f"port {fixed} (app.port in {self.scenario.path}) is already in "
                              "use on 127.0.0.1; stop whatever holds it or remove app.port to "
                              "let cleanloop pick a free one")
        return fixed

    def _alive_unless_cancelled(self) -> bool:
        """The readiness poll's liveness probe; a cancel during the boot wait ends it (raises
        Cancelled), so a cancelled call does not wait out a slow boot."""
        self.progress.checkpoint()
        return self.launcher.alive()

    def poll_ready(self, alive: Callable[[], bool]) -> tuple[bool, float]:
        """Wait until the app answers (no side effects: safe in a thread). (ready, ms)."""
        spec, handle, capture = self.spec, self.handle, self.capture
        assert capture is not None
        deadline = handle.spawned_at + spec.timeout_s
        kind, target = spec.ready.kind, spec.ready.target
        if kind == "http":
            url = target if target.startswith("http") else handle.base_url + target
            ok = readiness.wait_http(format_command(url, handle.port), deadline, alive)
        elif kind == "port":
            ok = readiness.wait_port("127.0.0.1", handle.port, deadline, alive)
        else:
            ok = readiness.wait_log(capture.wait_for, target, deadline, alive)
        return ok, (time.monotonic() - handle.spawned_at) * 1000

    def ready_or_raise(self, ok: bool, startup_ms: float) -> float:
        spec, launcher, capture = self.spec, self.launcher, self.capture
        assert capture is not None
        kind, target = spec.ready.kind, spec.ready.target
        if ok:
            logger.info("app ready after %.0f ms", startup_ms)
            return startup_ms
        code = launcher.exit_code()
        launcher.stop()
        capture.stop(time.monotonic() + 2.0)
        what = f"{kind} {target}".strip()
        if code is not None:
            raise LaunchError(f"the app exited with code {code} before it became ready "
                              f"({what})", log_tail=capture.tail(20))
        raise LaunchError(f"the app did not become ready ({what}) within {spec.timeout_s:g}s",
                          log_tail=capture.tail(20))

    # -- after the steps ----------------------------------------------------------------------
    def crashed_after(self, result: StepResult) -> bool:
        """Whether the app died during the step that gave `result` (recorded in `data`)."""
        launcher = self.launcher
        # a failed step may be the app dying: give its exit a moment to show
        if launcher.alive() and (result.ok or result.is_check
                                 or not launcher.exited_within(0.5)):
            return False
        self.data.crashed, self.data.exit_code = True, launcher.exit_code()
        return True

    def end_steps(self) -> None:
        """After the last step: mark the intake, close the browser context, and wait
        (bounded) until the app's last spans, logs and metrics have arrived."""
        assert self.receiver is not None, "the app is not started"
        self._mark = quiesce.Mark.now(self.receiver.activity())
        if self.browser_run is not None:  # the page makes no more requests while we wait
            closing, self.browser_run = self.browser_run, None
            self._close_browser(closing)
        rep, launcher = self.data, self.launcher
        if rep.crashed or not launcher.alive():
            rep.quiesce_outcome = quiesce.SKIPPED
            return
        self.progress.phase(f"{self.label}: waiting for the last telemetry")
        outcome = quiesce.wait_for_last_export(self.receiver.activity, self._mark,
                                               quiesce.Window.for_env(self.env), launcher.alive)
        rep.quiesce_ms, rep.quiesce_outcome = round(outcome.waited_ms, 1), outcome.outcome
        logger.info("quiesce: %s after %.0f ms", outcome.outcome, outcome.waited_ms)

    def _close_browser(self, browser_run: BrowserRun) -> None:
        try:
            self.data.absorb(browser_run.drain())
        finally:
            browser_run.close()

    # -- teardown -----------------------------------------------------------------------------
    def stop(self) -> RunData:
        """Final scrape, stop the app, flush every collector under one deadline. Idempotent."""
        if self._stopped or not self._started:
            return self.data
        self._stopped = True
        receiver, capture, launcher = self.receiver, self.capture, self._launcher
        if receiver is None or capture is None or launcher is None:
            return self.data  # nothing was started (no free port)
        rep = self.data
        self.progress.phase(f"{self.label}: flushing telemetry")
        # one deadline for every collector, with room for the app's SIGTERM grace
        deadline = time.monotonic() + FLUSH_DEADLINE_S + self.spec.stop_timeout_s
        parts: list[Collector] = []
        try:
            if self.browser_run is not None:
                closing, self.browser_run = self.browser_run, None
                self._close_browser(closing)
            if self.scraper is not None:
                self.scraper.stop(deadline)
                parts.append(self.scraper)
            self.stop_code = launcher.stop()
            if rep.crashed:
                rep.exit_code = self.stop_code
        finally:
            receiver.stop(deadline)
            capture.stop(deadline)
            launcher.close()
            parts += [receiver, capture]
            if self._mark is not None:
                rep.rows_after_last_step = self._mark.rows_since(receiver.activity())
            for part in parts:
                rep.absorb(part.drain())
                rep.collector_stats[part.name] = dict(part.stats())
        return rep


class ReadinessWatch:
    """Polls the app's readiness in a thread while the caller does other start-up work.

    `result()` joins it: the start-up time in ms, or the LaunchError of an app that never
    became ready. Leaving the block early (an error, Ctrl-C) cancels the poll and joins it.
    """

    def __init__(self, poll: Callable[[Callable[[], bool]], tuple[bool, float]],
                 finish: Callable[[bool, float], float], app_alive: Callable[[], bool]) -> None:
        self._finish = finish
        self._cancel = threading.Event()
        self._outcome: tuple[bool, float] | None = None
        self._error: BaseException | None = None

        def alive() -> bool:
            return not self._cancel.is_set() and app_alive()

        def run() -> None:
            try:
                self._outcome = poll(alive)
            except BaseException as exc:  # handed to the caller in result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="cleanloop-readiness", daemon=True)

    def __enter__(self) -> ReadinessWatch:
        self._thread.start()
        return self

    def result(self) -> float:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._finish(*self._outcome)

    def __exit__(self, *exc_info: object) -> None:
        self._cancel.set()
        self._thread.join()
