"""One repetition of a scenario: the app under test, then the steps, then its stop.

    AppUnderTest (cleanloop.loop.run.app): ports -> collectors -> launcher -> readiness
    -> steps, each run by the executor of its kind (cleanloop.loop.run.step_kinds);
       a step after which the app is gone ends them (a crash)
    -> end_steps: close the browser context, wait for the app's last telemetry
    -> stop: final scrape, stop the app, flush collectors under one deadline -> RunData

Every started part is stopped in `finally`, Ctrl-C included (AppUnderTest's block).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.run.app import AppUnderTest
from cleanloop.loop.run.progress import Progress
from cleanloop.loop.run.step_kinds import Drivers, executor_for

if TYPE_CHECKING:
    from cleanloop.loop.store.run_store import RunStore
    from cleanloop.probes.browser import BrowserSession

logger = logging.getLogger(__name__)


class Session:
    """Runs repetitions of one scenario against the project checkout in `project_dir`."""

    def __init__(self, scenario: Scenario, project_dir: Path, store: RunStore,
                 progress: Progress, base_env: Mapping[str, str],
                 browser: BrowserSession | None = None) -> None:
        self.scenario = scenario
        self.project_dir = project_dir
        self.store = store
        self.progress = progress
        self.base_env = dict(base_env)
        self.browser = browser
        #: how many runs the caller plans (for "run k of n" in the progress line)
        self.total_runs: int | None = None
        #: called right after the app is spawned (work that can overlap its boot)
        self.on_spawn: Callable[[], None] | None = None
        # every step has an executor before anything boots (ScenarioError otherwise)
        for step in scenario.steps:
            executor_for(step)

    def _label(self, repeat: int) -> str:
        if repeat < 0:
            return f"[{self.scenario.name}] warm-up"
        of = f" of {self.total_runs}" if self.total_runs else ""
        return f"[{self.scenario.name}] run {repeat + 1}{of}"

    def app(self, repeat: int) -> AppUnderTest:
        """The app under test for repetition `repeat` (not started)."""
        return AppUnderTest(self.scenario, self.project_dir, self.store, self.progress,
                            self.base_env, browser=self.browser, repeat=repeat,
                            label=self._label(repeat), on_spawn=self.on_spawn)

    def run(self, repeat: int) -> RunData:
        with self.app(repeat) as app:
            self._run_steps(app)
            app.end_steps()
        return app.data

    def _run_steps(self, app: AppUnderTest) -> None:
        from cleanloop.loop.base.http_client import loopback_client

        steps, rep = self.scenario.steps, app.data
        with loopback_client(base_url=app.base_url, timeout=10.0) as client:
            for step in steps:
                self.progress.checkpoint()
                self.progress.phase(f"{app.label}: step {step.index + 1}/{len(steps)} "
                                    f"{step.name}")
                result = executor_for(step)(step, Drivers(client, app.browser_run,
                                                            self.progress.checkpoint))
                rep.steps.append(result)
                if app.crashed_after(result):
                    logger.warning("the app exited (code %s) during %s", rep.exit_code,
                                   step.where())
                    break
