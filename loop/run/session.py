"""One repetition of a scenario: boot the app with collectors, run the steps, flush, stop.

    ports -> OTLP receiver + process log capture -> launch app (telemetry env)
    -> readiness (startup measured spawn -> ready) -> Prometheus scraper
    -> steps (http, load, browser) -> close the browser context
    -> quiesce: wait (bounded) for the app's last OTLP exports (cleanloop.loop.run.quiesce)
    -> final scrape -> stop app (SIGTERM, group) -> flush collectors under one shared
    deadline -> RunData (with the rows that arrived after the last step)

Every started part is stopped in `finally`, Ctrl-C included.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.collectors.otlp_receiver import OtlpReceiver
from cleanloop.collectors.process_logs import ProcessLogCapture
from cleanloop.loop.base.envvars import telemetry_env
from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.steps import Step, StepResult
from cleanloop.loop.run import quiesce
from cleanloop.loop.run.launchers.local import AppHandle, LocalProcess
from cleanloop.loop.run.progress import Progress
from cleanloop.probes import readiness
from cleanloop.probes.http import run_http_step, run_load_step

if TYPE_CHECKING:
    import httpx

    from cleanloop.collectors.prometheus_scraper import PrometheusScraper
    from cleanloop.loop.store.run_store import RunStore
    from cleanloop.probes.browser import BrowserRun, BrowserSession

logger = logging.getLogger(__name__)

FLUSH_DEADLINE_S = 5.0


def format_command(template: str, port: int) -> str:
    return template.replace("{port}", str(port)).replace("{python}", sys.executable)


class Session:
    """Runs repetitions of one scenario against the project checkout in `project_dir`."""

    def __init__(self, scenario: Scenario, project_dir: Path, store: RunStore,
                 progress: Progress, base_env: Mapping[str, str] | None = None,
                 browser: BrowserSession | None = None) -> None:
        self.scenario = scenario
        self.project_dir = project_dir
        self.store = store
        self.progress = progress
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.browser = browser
        #: how many runs the caller plans (for "run k of n" in the progress line)
        self.total_runs: int | None = None
        #: called right after the app is spawned (work that can overlap its boot)
        self.on_spawn: Callable[[], None] | None = None

    def _label(self, repeat: int) -> str:
        if repeat < 0:
            return f"[{self.scenario.name}] warm-up"
        of = f" of {self.total_runs}" if self.total_runs else ""
        return f"[{self.scenario.name}] run {repeat + 1}{of}"

    def pick_port(self) -> int:
        fixed = self.scenario.app.port
        if fixed is None:
            return readiness.free_port()
        if not readiness.port_is_free("127.0.0.1", fixed):
            raise LaunchError(f"port {fixed} (app.port in {self.scenario.path}) is already in "
                              "use on 127.0.0.1; stop whatever holds it or remove app.port to "
                              "let cleanloop pick a free one")
        return fixed

    def run(self, repeat: int) -> RunData:
        spec = self.scenario.app
        rep = RunData(repeat)
        port = self.pick_port()
        cwd = (self.project_dir / spec.cwd).resolve()
        receiver = OtlpReceiver()
        capture = ProcessLogCapture(self.store.app_log, service=spec.service)
        launcher = LocalProcess(format_command(spec.command, port), cwd, port, capture,
                                stop_timeout_s=spec.stop_timeout_s)
        scraper: PrometheusScraper | None = None
        browser_run: BrowserRun | None = None
        mark: quiesce.Mark | None = None
        try:
            receiver.start()
            capture.start()
            env = {**self.base_env, **telemetry_env(receiver.endpoint, spec.service, port),
                   **{k: format_command(v, port) for k, v in spec.env.items()}}
            self.progress.phase(f"{self._label(repeat)}: booting the app")
            handle = launcher.start(env)
            if self.on_spawn is not None:
                self.on_spawn()
            if self.browser is None:
                rep.startup_ms = self.wait_ready(launcher, handle, capture)
            else:
                # the browser context opens while the app boots; readiness is polled (and
                # start-up timed) in a thread meanwhile, as Playwright's sync API is bound
                # to this one
                with ReadinessWatch(self, launcher, handle, capture) as watch:
                    browser_run = self.browser.open(base_url=handle.base_url,
                                                    artifacts_dir=self.store.dir,
                                                    repeat=repeat)
                    rep.startup_ms = watch.result()
            if spec.metrics_path:
                from cleanloop.collectors.prometheus_scraper import PrometheusScraper

                scraper = PrometheusScraper(handle.base_url + spec.metrics_path,
                                            interval_s=spec.scrape_interval_s)
                scraper.start()
            self._run_steps(rep, handle, launcher, browser_run)
            mark = quiesce.Mark.now(receiver.activity())
            if browser_run is not None:  # the page makes no more requests while we wait
                closing, browser_run = browser_run, None
                self._close_browser(rep, closing)
            self._quiesce(rep, launcher, receiver, mark, quiesce.Window.for_env(env))
        finally:
            self._teardown(rep, launcher, receiver, capture, scraper, browser_run, mark)
        return rep

    def wait_ready(self, launcher: LocalProcess, handle: AppHandle,
                    capture: ProcessLogCapture) -> float:
        ok, startup_ms = self.poll_ready(launcher.alive, handle, capture)
        return self.ready_or_raise(ok, startup_ms, launcher, capture)

    def poll_ready(self, alive: Callable[[], bool], handle: AppHandle,
                   capture: ProcessLogCapture) -> tuple[bool, float]:
        """Wait until the app answers (no side effects: safe in a thread). (ready, ms)."""
        spec = self.scenario.app
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

    def ready_or_raise(self, ok: bool, startup_ms: float, launcher: LocalProcess,
                       capture: ProcessLogCapture) -> float:
        spec = self.scenario.app
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

    def _run_steps(self, rep: RunData, handle: AppHandle, launcher: LocalProcess,
                   browser_run: BrowserRun | None) -> None:
        from cleanloop.loop.base.http_client import loopback_client

        steps = self.scenario.steps
        with loopback_client(base_url=handle.base_url, timeout=10.0) as client:
            for step in steps:
                self.progress.phase(f"{self._label(rep.repeat)}: step {step.index + 1}/"
                                    f"{len(steps)} {step.name}")
                result = self._run_step(step, client, browser_run)
                rep.steps.append(result)
                # a failed step may be the app dying: give its exit a moment to show
                if not launcher.alive() or (not result.ok and not result.is_check
                                            and launcher.exited_within(0.5)):
                    rep.crashed, rep.exit_code = True, launcher.exit_code()
                    logger.warning("the app exited (code %s) during %s", rep.exit_code,
                                   step.where())
                    break

    def _run_step(self, step: Step, client: httpx.Client,
                  browser_run: BrowserRun | None) -> StepResult:
        if step.kind == "http":
            return run_http_step(client, step)
        if step.kind == "load":
            return run_load_step(client, step)
        assert browser_run is not None, "browser steps need a browser session"
        return browser_run.run_step(step)

    def _quiesce(self, rep: RunData, launcher: LocalProcess, receiver: OtlpReceiver,
                 mark: quiesce.Mark, window: quiesce.Window) -> None:
        """Wait (bounded) until the app's last spans, logs and metrics have arrived."""
        if rep.crashed or not launcher.alive():
            rep.quiesce_outcome = quiesce.SKIPPED
            return
        self.progress.phase(f"{self._label(rep.repeat)}: waiting for the last telemetry")
        outcome = quiesce.wait_for_last_export(receiver.activity, mark, window, launcher.alive)
        rep.quiesce_ms, rep.quiesce_outcome = round(outcome.waited_ms, 1), outcome.outcome
        logger.info("quiesce: %s after %.0f ms", outcome.outcome, outcome.waited_ms)

    @staticmethod
    def _close_browser(rep: RunData, browser_run: BrowserRun) -> None:
        try:
            rep.absorb(browser_run.drain())
        finally:
            browser_run.close()

    def _teardown(self, rep: RunData, launcher: LocalProcess, receiver: OtlpReceiver,
                  capture: ProcessLogCapture, scraper: PrometheusScraper | None,
                  browser_run: BrowserRun | None, mark: quiesce.Mark | None) -> None:
        self.progress.phase(f"{self._label(rep.repeat)}: flushing telemetry")
        # one deadline for every collector, with room for the app's SIGTERM grace
        deadline = time.monotonic() + FLUSH_DEADLINE_S + self.scenario.app.stop_timeout_s
        parts: list[Any] = []
        try:
            if browser_run is not None:
                self._close_browser(rep, browser_run)
            if scraper is not None:
                scraper.stop(deadline)
                parts.append(scraper)
            code = launcher.stop()
            if rep.crashed:
                rep.exit_code = code
        finally:
            receiver.stop(deadline)
            capture.stop(deadline)
            launcher.close()
            parts += [receiver, capture]
            if mark is not None:
                rep.rows_after_last_step = mark.rows_since(receiver.activity())
            for part in parts:
                rep.absorb(part.drain())
                rep.collector_stats[part.name] = dict(part.stats())


class ReadinessWatch:
    """Polls the app's readiness in a thread while the caller does other start-up work.

    `result()` joins it: the start-up time in ms, or the LaunchError of an app that never
    became ready. Leaving the block early (an error, Ctrl-C) cancels the poll and joins it.
    """

    def __init__(self, session: Session, launcher: LocalProcess, handle: AppHandle,
                 capture: ProcessLogCapture) -> None:
        self._session, self._launcher, self._capture = session, launcher, capture
        self._cancel = threading.Event()
        self._outcome: tuple[bool, float] | None = None
        self._error: BaseException | None = None

        def alive() -> bool:
            return not self._cancel.is_set() and launcher.alive()

        def poll() -> None:
            try:
                self._outcome = session.poll_ready(alive, handle, capture)
            except BaseException as exc:  # handed to the caller in result()
                self._error = exc

        self._thread = threading.Thread(target=poll, name="cleanloop-readiness", daemon=True)

    def __enter__(self) -> ReadinessWatch:
        self._thread.start()
        return self

    def result(self) -> float:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._session.ready_or_raise(*self._outcome, self._launcher, self._capture)

    def __exit__(self, *exc_info: object) -> None:
        self._cancel.set()
        self._thread.join()
