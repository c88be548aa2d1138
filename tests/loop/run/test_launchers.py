"""The launcher registry: `app.launcher` picks the factory the app under test boots with."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.model.scenario import LAUNCHERS, load_scenario
from cleanloop.loop.run.app import AppUnderTest
from cleanloop.loop.run.launchers import (
    AppHandle,
    LaunchPlan,
    LocalProcess,
    launcher_for,
    launcher_names,
    register_launcher,
    unregister_launcher,
)
from cleanloop.loop.run.progress import QuietProgress
from cleanloop.loop.store.run_store import RunStore
from tests.loop.run.test_app_under_test import plain_scenario

BAD = "name: x\napp:\n  command: run-me\n  launcher: {launcher}\nsteps:\n  - http: {{path: /}}\n"


def test_the_registry_knows_exactly_the_launchers_the_loader_accepts() -> None:
    assert launcher_names() == tuple(sorted(LAUNCHERS))


def test_local_is_the_default(tmp_path: Path) -> None:
    scenario = plain_scenario(tmp_path)
    assert scenario.app.launcher == "local"
    assert launcher_for(scenario.app) == LocalProcess.from_plan


def test_an_unknown_launcher_is_refused_at_load_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.format(launcher="kubernetes"))
    with pytest.raises(ScenarioError, match="launcher 'kubernetes' is not available") as info:
        load_scenario(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 4, "app.launcher")


def test_an_unregistered_launcher_is_refused_before_anything_boots(tmp_path: Path) -> None:
    scenario = plain_scenario(tmp_path)
    odd = dataclasses.replace(scenario, app=dataclasses.replace(scenario.app, launcher="nope"))
    with pytest.raises(ScenarioError, match="launcher 'nope' is not available") as info:
        AppUnderTest(odd, tmp_path, RunStore(tmp_path / "run"), QuietProgress(), {})
    assert info.value.field == "app.launcher" and info.value.path == scenario.path


def test_a_name_is_registered_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_launcher("local", LocalProcess.from_plan)
    with pytest.raises(ValueError, match="cannot be unregistered"):
        unregister_launcher("local")


class Journaling:
    """A launcher of its own: the local process, with a journal of the calls it was given."""

    def __init__(self, plan: LaunchPlan, journal: list[str]) -> None:
        self._local = LocalProcess.from_plan(plan)
        self.journal = journal
        journal.append(f"plan port={plan.port} cwd={plan.cwd.name}")

    def start(self, env: Mapping[str, str]) -> AppHandle:
        self.journal.append("start")
        return self._local.start(env)

    def alive(self) -> bool:
        return self._local.alive()

    def exited_within(self, seconds: float) -> bool:
        return self._local.exited_within(seconds)

    def exit_code(self) -> int | None:
        return self._local.exit_code()

    def logs(self, lines: int = 20) -> str:
        return self._local.logs(lines)

    def stop(self) -> int | None:
        self.journal.append("stop")
        return self._local.stop()

    def close(self) -> None:
        self.journal.append("close")
        self._local.close()


@pytest.fixture
def journal() -> Iterator[list[str]]:
    calls: list[str] = []
    register_launcher("journaling", lambda plan: Journaling(plan, calls))
    try:
        yield calls
    finally:
        unregister_launcher("journaling")
    assert "journaling" not in launcher_names()


def test_the_app_under_test_boots_with_the_launcher_the_registry_names(
        tmp_path: Path, journal: list[str]) -> None:
    scenario = plain_scenario(tmp_path)
    custom = dataclasses.replace(scenario,
                                 app=dataclasses.replace(scenario.app, launcher="journaling"))
    with AppUnderTest(custom, tmp_path, RunStore(tmp_path / "run"), QuietProgress(), {}) as app:
        assert isinstance(app.launcher, Journaling)
        assert httpx.get(app.base_url + "/x", timeout=10.0).status_code == 200
        app.end_steps()
    assert journal == [f"plan port={app.handle.port} cwd={tmp_path.name}", "start", "stop",
                       "close"]
    assert list(app.data.frame("spans")["name"]) == ["GET /x"]
