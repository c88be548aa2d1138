"""The launcher contract: what the app under test needs from whatever starts the app.

    plan    = LaunchPlan(spec, project_dir, port, capture)   where and how to start it
    app     = factory(plan)                                   a Launcher (the registry picks
                                                              the factory by `app.launcher`)
    handle  = app.start(env)        spawned (not yet ready): pid, base URL, port, spawn time
    app.alive() / app.exited_within(s) / app.exit_code()     is it still running
    app.stop()  -> exit code        SIGTERM/grace/SIGKILL of everything it started; idempotent
    app.close()                     release what the log capture read from (after its stop)

A launcher attaches the app's output to `plan.capture` (the process log collector), so the
session gets `app.log` and the `logs` rows whatever runs the app.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cleanloop.collectors.process_logs import ProcessLogCapture
from cleanloop.loop.model.scenario import AppSpec


def format_command(template: str, port: int) -> str:
    """Expand `{port}` and `{python}` (this interpreter) in a command, env value or URL."""
    return template.replace("{port}", str(port)).replace("{python}", sys.executable)


@dataclass
class AppHandle:
    pid: int
    spawned_at: float          # time.monotonic() at spawn
    base_url: str
    port: int


@dataclass(frozen=True)
class LaunchPlan:
    """Where and how one boot of the app happens."""

    spec: AppSpec
    project_dir: Path          # the checkout the scenario's `app.cwd` is relative to
    port: int                  # the port the app is told to listen on (PORT, {port})
    capture: ProcessLogCapture

    @property
    def cwd(self) -> Path:
        return (self.project_dir / self.spec.cwd).resolve()

    @property
    def command(self) -> str:
        return format_command(self.spec.command, self.port)


class Launcher(Protocol):
    """Starts and stops the app under test (see the module docstring)."""

    def start(self, env: Mapping[str, str]) -> AppHandle: ...

    def alive(self) -> bool: ...

    def exited_within(self, seconds: float) -> bool: ...

    def exit_code(self) -> int | None: ...

    def logs(self, lines: int = 20) -> str: ...

    def stop(self) -> int | None: ...

    def close(self) -> None: ...


#: builds the launcher for one boot (registered by name in cleanloop.loop.run.launchers)
LauncherFactory = Callable[[LaunchPlan], Launcher]
