"""The registry of step executors, keyed by step kind: how each kind of step is run.

    result = run_step(step, Drivers(client, browser_run))

The grammar side of each kind is in the model (cleanloop.loop.model.http_steps,
cleanloop.loop.model.browser_steps; the kinds the loader accepts are
cleanloop.loop.model.scenario.STEP_KINDS), the probes act on the app
(cleanloop.probes.http, cleanloop.probes.browser). A test keeps STEP_KINDS and
STEP_EXECUTORS in step, so every kind a scenario may name has exactly one executor here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from cleanloop.loop.base.errors import Cancelled, ProbeError, ScenarioError
from cleanloop.loop.model.steps import Step, StepResult
from cleanloop.probes.http import run_http_step, run_load_step

if TYPE_CHECKING:
    import httpx

    from cleanloop.probes.browser import BrowserRun


@dataclass(frozen=True)
class Drivers:
    """What steps act on the app with: a loopback HTTP client at the app's base URL, and
    the repetition's browser context (None when the scenario has no browser steps)."""

    client: httpx.Client
    browser_run: BrowserRun | None = None
    #: Progress.checkpoint of the run: raises Cancelled when the caller cancelled
    checkpoint: Callable[[], None] = lambda: None

    def stop_requested(self) -> bool:
        """True when the caller cancelled (a long step stops sending and ends early)."""
        try:
            self.checkpoint()
        except Cancelled:
            return True
        return False


#: runs one step of its kind; a failed step is a result, ProbeError when it cannot run
StepExecutor = Callable[[Step, Drivers], StepResult]


def _http(step: Step, drivers: Drivers) -> StepResult:
    return run_http_step(drivers.client, step)


def _load(step: Step, drivers: Drivers) -> StepResult:
    result = run_load_step(drivers.client, step, should_stop=drivers.stop_requested)
    drivers.checkpoint()   # a load cut short by a cancel ends the run here
    return result


def _browser(step: Step, drivers: Drivers) -> StepResult:
    if drivers.browser_run is None:
        raise ProbeError(f"{step.where()}: a browser step needs a browser session, and this "
                         "run has none")
    return drivers.browser_run.run_step(step)


STEP_EXECUTORS: Mapping[str, StepExecutor] = MappingProxyType({
    "http": _http,
    "load": _load,
    "browser": _browser,
})


def executor_for(step: Step) -> StepExecutor:
    """The executor of `step.kind`; a ScenarioError naming the step if there is none."""
    executor = STEP_EXECUTORS.get(step.kind)
    if executor is None:
        raise ScenarioError(f"unknown step kind '{step.kind}' (known: "
                            f"{', '.join(STEP_EXECUTORS)})", path=step.source or None,
                            line=step.line or None, field=f"steps[{step.index}].{step.kind}")
    return executor


def run_step(step: Step, drivers: Drivers) -> StepResult:
    return executor_for(step)(step, drivers)
