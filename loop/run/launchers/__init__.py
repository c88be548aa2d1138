"""Launchers start the app under test behind one Protocol; a registry keyed on app.launcher.

    factory  = launcher_for(scenario.app)             # by `app.launcher` (default "local")
    launcher = factory(LaunchPlan(spec, project_dir, port, capture))
    register_launcher("docker", DockerLauncher.from_plan)

The contract is cleanloop.loop.run.launchers.base (`Launcher`, `AppHandle`, `LaunchPlan`);
`local` (cleanloop.loop.run.launchers.local) is registered here. The scenario loader refuses
a name missing from cleanloop.loop.model.scenario.LAUNCHERS at load, with its file and line
(the model cannot import this layer; a test keeps that tuple and this registry in step);
`launcher_for` refuses an unregistered one before anything boots.
"""

from __future__ import annotations

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.model.scenario import AppSpec
from cleanloop.loop.run.launchers.base import (
    AppHandle,
    Launcher,
    LauncherFactory,
    LaunchPlan,
    format_command,
)
from cleanloop.loop.run.launchers.local import LocalProcess

__all__ = ["AppHandle", "LaunchPlan", "Launcher", "LauncherFactory", "LocalProcess",
           "format_command", "launcher_for", "launcher_names", "register_launcher",
           "unregister_launcher"]

_FACTORIES: dict[str, LauncherFactory] = {"local": LocalProcess.from_plan}


def register_launcher(name: str, factory: LauncherFactory) -> None:
    """Make `app.launcher: <name>` start the app with `factory(plan)`."""
    if name in _FACTORIES:
        raise ValueError(f"a launcher named {name!r} is already registered")
    _FACTORIES[name] = factory


def unregister_launcher(name: str) -> None:
    """Forget a launcher registered with register_launcher (the built-in ones stay)."""
    if name == "local":
        raise ValueError("the local launcher cannot be unregistered")
    _FACTORIES.pop(name, None)


def launcher_names() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


def launcher_for(spec: AppSpec, scenario_path: str | None = None) -> LauncherFactory:
    """The factory registered for `spec.launcher`; a ScenarioError naming the field if none."""
    factory = _FACTORIES.get(spec.launcher)
    if factory is None:
        raise ScenarioError(f"launcher '{spec.launcher}' is not available (known: "
                            f"{', '.join(launcher_names())})", path=scenario_path,
                            field="app.launcher")
    return factory
