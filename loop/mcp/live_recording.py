"""A live session's actions as scenario steps, and the scenario file they become.

Every action the agent takes on the page is recorded in the browser step grammar
(cleanloop.loop.model.browser_steps), in `steps.yaml` in the session directory, with a stable
selector for the element it acted on (refs do not survive a reload). `save_scenario` writes
them out as a scenario file that `cleanloop run` and `cleanloop verify` accept: the app and
browser sections of the scenario the session was started from (app.cwd rewritten so the app
boots from the new file's directory), the recorded steps, and the checks. The text is loaded
with `load_scenario` before anything is written, and again from the file after.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.model.browser_steps import parse_step
from cleanloop.loop.model.scenario import Scenario, load_scenario
from cleanloop.loop.model.steps import Step

#: the checks of a saved scenario when none are given: nothing went wrong in the browser
DEFAULT_CHECKS = ("console.errors == 0", "page.errors == 0",
                  "requests(status >= 400).count == 0")
STEPS_FILE = "steps.yaml"
_COPIED = ("browser", "protected")


class Recording:
    """The browser steps recorded in one session, mirrored in `<session dir>/steps.yaml`."""

    def __init__(self, session_dir: Path) -> None:
        self.file = session_dir / STEPS_FILE
        self.steps: list[dict[str, Any]] = []

    def add(self, name: str, params: Mapping[str, Any]) -> int:
        """Record one step (its name and the action's fields under `browser:`); returns its
        number (1-based)."""
        number = len(self.steps) + 1
        parse_step(Step("browser", number - 1, 0, name, dict(params),
                        source=str(self.file)))  # a bug here, never in the saved scenario
        self.steps.append({"name": name, **params})
        self.file.write_text(_dump({"steps": self.as_steps(None)}, flow_leaves=True),
                             encoding="utf-8")
        return number

    def as_steps(self, numbers: Sequence[int] | None) -> list[dict[str, Any]]:
        """The steps (all, or those numbered) as scenario `steps:` entries."""
        if numbers is None:
            return [{"browser": dict(step)} for step in self.steps]
        unknown = [n for n in numbers if not 1 <= n <= len(self.steps)]
        if unknown:
            raise UsageError(f"no recorded step {', '.join(map(str, unknown))}; this session "
                             f"recorded steps 1..{len(self.steps)}")
        return [{"browser": dict(self.steps[n - 1])} for n in numbers]


@dataclass(frozen=True)
class ScenarioFile:
    path: Path
    name: str
    steps: int
    checks: tuple[str, ...]
    app_cwd: str


def target_path(repo: Path, given: str, overwrite: bool) -> Path:
    """Where to write: inside the repository, a .yaml/.yml file, not clobbering one unless
    `overwrite`."""
    repo = repo.resolve()
    path = Path(given).expanduser()
    path = (path if path.is_absolute() else repo / path).resolve()
    if not path.is_relative_to(repo):
        raise UsageError(f"{given} is outside the repository {repo}; save the scenario inside "
                         "it (a path relative to the repository)")
    if path.suffix not in (".yaml", ".yml"):
        raise UsageError(f"{given}: a scenario file ends in .yaml or .yml")
    if path.is_dir():
        raise UsageError(f"{given} is a directory")
    if path.exists() and not overwrite:
        raise UsageError(f"{given} exists; pass overwrite=true to replace it")
    return path


def write_scenario(source: Scenario, project_dir: Path, steps: list[dict[str, Any]],
                   path: Path, *, name: str | None, checks: Sequence[str] | None,
                   session: str) -> ScenarioFile:
    """Write the scenario file (validated first: nothing is written when it does not load)."""
    if not steps:
        raise UsageError("no steps to save: act on the page first (navigate, click, ...)")
    raw = yaml.safe_load(source.source_text)
    app = dict(raw["app"])
    app_dir = (project_dir / str(app.get("cwd", "."))).resolve()
    cwd = os.path.relpath(app_dir, path.parent)
    if cwd == ".":
        app.pop("cwd", None)
    else:
        app["cwd"] = cwd
    chosen = tuple(checks) if checks is not None else DEFAULT_CHECKS
    title = name or path.stem
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# recorded by cleanloop mcp (session {session}, {stamp}) from "
              f"{Path(source.path).name}\n")
    parts = [header, _dump({"name": title, "description": (
        f"Reproduction recorded in a live session from {Path(source.path).name}")}),
        _dump({"app": app})]
    parts += [_dump({key: raw[key]}) for key in _COPIED if raw.get(key) is not None]
    parts += [_dump({"steps": steps}, flow_leaves=True), _dump({"repeat": 1}),
              _dump({"checks": list(chosen)})]
    text = "".join(parts)
    load_scenario(path, text=text)  # ScenarioError (file, line, field) before writing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    loaded = load_scenario(path)
    return ScenarioFile(path, loaded.name, len(loaded.steps),
                        tuple(c.text for c in loaded.checks), app.get("cwd", "."))


def _dump(data: Mapping[str, Any], flow_leaves: bool = False) -> str:
    """YAML in block style; with `flow_leaves` the innermost mappings are written on one line
    (`- browser: {name: open, goto: /}`), as the bundled scenarios write steps."""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True,
                          default_flow_style=None if flow_leaves else False, width=100_000)
