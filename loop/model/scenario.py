"""Scenario files: YAML validated into frozen dataclasses.

Every error names the file, the line and the field (see cleanloop.loop.base.yaml_source).
The grammar is documented in README.md ("Scenario reference").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.base.units import parse_duration_s
from cleanloop.loop.base.yaml_source import KeyPath, Locator, load_located
from cleanloop.loop.model.browser_steps import parse_step
from cleanloop.loop.model.checks import Check, parse_check
from cleanloop.loop.model.http_steps import validate_http_params
from cleanloop.loop.model.sli_grammar import validate_sli
from cleanloop.loop.model.steps import Step

STEP_KINDS = ("http", "load", "browser")
#: the `app.launcher` names the run layer registers (cleanloop.loop.run.launchers; a test
#: keeps the two in step): an unknown one is refused here, with its file and line
LAUNCHERS = ("local",)
_TOP_KEYS = {"name", "description", "app", "steps", "repeat", "checks", "targets", "guards",
             "protected", "browser"}
_APP_KEYS = {"command", "cwd", "ready", "timeout", "env", "service", "metrics", "scrape_interval",
             "port", "stop_timeout", "launcher"}
_READY_KEYS = {"http", "port", "log"}
_BROWSER_KEYS = {"executable", "cdp_url", "headless", "screencast", "performance_trace",
                 "timeout", "viewport"}
DEFAULT_PROTECTED = ("*.yaml", "*.yml", "scenarios/**", "tests/**")


@dataclass(frozen=True)
class Readiness:
    kind: str                   # http | port | log
    target: str = ""            # URL path / URL for http, regex for log


@dataclass(frozen=True)
class AppSpec:
    command: str
    cwd: str = "."
    ready: Readiness = Readiness("http", "/healthz")
    timeout_s: float = 30.0
    env: Mapping[str, str] = field(default_factory=dict)
    service: str = "app"
    metrics_path: str | None = None
    scrape_interval_s: float = 1.0
    port: int | None = None     # a fixed port; None = allocate a free loopback port
    stop_timeout_s: float = 5.0
    launcher: str = "local"     # one of LAUNCHERS


@dataclass(frozen=True)
class BrowserOptions:
    executable: str | None = None
    cdp_url: str | None = None
    headless: bool = True
    screencast: bool = False
    performance_trace: bool = False
    timeout_s: float = 10.0
    viewport: tuple[int, int] = (1280, 800)


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    source_text: str
    app: AppSpec
    steps: tuple[Step, ...]
    repeat: int = 1
    checks: tuple[Check, ...] = ()
    targets: tuple[Check, ...] = ()
    guards: tuple[Check, ...] = ()
    protected: tuple[str, ...] = DEFAULT_PROTECTED
    browser: BrowserOptions = BrowserOptions()
    description: str = ""

    @property
    def uses_browser(self) -> bool:
        return any(s.kind == "browser" for s in self.steps)


def load_scenario(path: str | Path, text: str | None = None) -> Scenario:
    """Read and validate a scenario file (or `text` given as if it were that file)."""
    p = Path(path)
    if text is None:
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ScenarioError("no such scenario file", path=str(p)) from exc
        except OSError as exc:
            raise ScenarioError(f"cannot read: {exc}", path=str(p)) from exc
    data, loc = load_located(text, str(p))
    return _Validator(loc).scenario(data, text)


class _Validator:
    def __init__(self, loc: Locator) -> None:
        self.loc = loc

    def fail(self, keys: KeyPath, message: str) -> ScenarioError:
        return self.loc.error(keys, message)

    def mapping(self, value: Any, keys: KeyPath, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keys, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.fail(keys + (key,), f"unknown field '{key}' (known: {known})")
        return value

    def string(self, value: Any, keys: KeyPath) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(keys, f"expected a non-empty string, got {_kind(value)}")
        return value

    def duration(self, value: Any, keys: KeyPath) -> float:
        try:
            return parse_duration_s(value)
        except ValueError as exc:
            raise self.fail(keys, str(exc)) from None

    def integer(self, value: Any, keys: KeyPath, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(keys, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def scenario(self, data: Any, text: str) -> Scenario:
        top = self.mapping(data, (), _TOP_KEYS)
        for required in ("name", "app", "steps"):
            if required not in top:
                raise self.fail((), f"missing required field '{required}'")
        name = self.string(top["name"], ("name",))
        steps = self.steps(top["steps"])
        return Scenario(
            name=name, path=self.loc.path, source_text=text,
            app=self.app(top["app"]), steps=steps,
            repeat=self.integer(top.get("repeat", 1), ("repeat",), minimum=1),
            checks=self.checks(top.get("checks", []), "check"),
            targets=self.checks(top.get("targets", []), "target"),
            guards=self.checks(top.get("guards", []), "guard"),
            protected=self.protected(top.get("protected", list(DEFAULT_PROTECTED))),
            browser=self.browser(top.get("browser", {})),
            description=str(top.get("description", "")),
        )

    def app(self, value: Any) -> AppSpec:
        keys: KeyPath = ("app",)
        app = self.mapping(value, keys, _APP_KEYS)
        if "command" not in app:
            raise self.fail(keys, "missing required field 'command'")
        launcher = app.get("launcher", "local")
        if launcher not in LAUNCHERS:
            raise self.fail(keys + ("launcher",), f"launcher '{launcher}' is not available "
                            f"(known: {', '.join(LAUNCHERS)})")
        env = self.mapping(app.get("env", {}), keys + ("env",), set(app.get("env", {}) or {}))
        metrics = app.get("metrics")
        port = app.get("port")
        return AppSpec(
            command=self.string(app["command"], keys + ("command",)),
            cwd=self.string(app.get("cwd", "."), keys + ("cwd",)),
            ready=self.ready(app.get("ready", {"http": "/healthz"})),
            timeout_s=self.duration(app.get("timeout", "30s"), keys + ("timeout",)),
            env={str(k): str(v) for k, v in env.items()},
            service=self.string(app.get("service", "app"), keys + ("service",)),
            metrics_path=None if metrics is None else self.string(metrics, keys + ("metrics",)),
            scrape_interval_s=self.duration(app.get("scrape_interval", "1s"),
                                            keys + ("scrape_interval",)),
            port=None if port is None else self.integer(port, keys + ("port",), minimum=1),
            stop_timeout_s=self.duration(app.get("stop_timeout", "5s"), keys + ("stop_timeout",)),
            launcher=launcher,
        )

    def ready(self, value: Any) -> Readiness:
        keys: KeyPath = ("app", "ready")
        if isinstance(value, str):
            return Readiness("http", value)
        ready = self.mapping(value, keys, _READY_KEYS)
        if len(ready) != 1:
            raise self.fail(keys, "give exactly one of: http, port, log")
        kind, target = next(iter(ready.items()))
        if kind == "port":
            if target is not True:
                raise self.fail(keys + ("port",), "write 'port: true'")
            return Readiness("port")
        return Readiness(kind, self.string(target, keys + (kind,)))

    def steps(self, value: Any) -> tuple[Step, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(("steps",), "expected a non-empty list of steps")
        out = []
        for i, raw in enumerate(value):
            keys: KeyPath = ("steps", i)
            if not isinstance(raw, dict) or len(raw) != 1:
                raise self.fail(keys, "each step is a mapping with one key: http, load or browser")
            kind, params = next(iter(raw.items()))
            if kind not in STEP_KINDS:
                raise self.fail(keys + (kind,), f"unknown step kind '{kind}' (known: "
                                f"{', '.join(STEP_KINDS)})")
            out.append(self.step(kind, params, i, keys + (kind,)))
        return tuple(out)

    def step(self, kind: str, params: Any, index: int, keys: KeyPath) -> Step:
        if not isinstance(params, dict):
            raise self.fail(keys, f"expected a mapping, got {_kind(params)}")
        params = dict(params)
        if "timeout" in params:
            params["timeout"] = self.duration(params["timeout"], keys + ("timeout",))
        if kind in ("http", "load"):
            try:
                validate_http_params(kind, params)
            except ValueError as exc:
                field_name, _, message = str(exc).partition(": ")
                raise self.fail(keys + (field_name,), message or str(exc)) from None
        name = params.pop("name", None)
        if name is None:
            name = _default_step_name(kind, params)
        line = self.loc.line(keys) or 0
        step = Step(kind=kind, index=index, line=line, name=str(name), params=params,
                    source=self.loc.path)
        if kind == "browser":
            parse_step(step)  # ScenarioError naming the file, line and field
        return step

    def checks(self, value: Any, role: str) -> tuple[Check, ...]:
        keys: KeyPath = (role + "s",)
        if not isinstance(value, list):
            raise self.fail(keys, f"expected a list of {role}s")
        out = []
        for i, text in enumerate(value):
            line = self.loc.line(keys + (i,))
            if not isinstance(text, str):
                raise self.fail(keys + (i,), f"a {role} is a string like "
                                "'span(\"GET /\").p95 < 300ms'")
            try:
                check = parse_check(text, role, line=line)
                validate_sli(check.sli)
            except ValueError as exc:
                raise self.fail(keys + (i,), f"{exc} in {text!r}") from None
            out.append(check)
        return tuple(out)

    def protected(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(("protected",), "expected a list of glob patterns")
        return tuple(value)

    def browser(self, value: Any) -> BrowserOptions:
        keys: KeyPath = ("browser",)
        b = self.mapping(value or {}, keys, _BROWSER_KEYS)
        return BrowserOptions(
            executable=b.get("executable"), cdp_url=b.get("cdp_url"),
            headless=bool(b.get("headless", True)), screencast=bool(b.get("screencast", False)),
            performance_trace=bool(b.get("performance_trace", False)),
            timeout_s=self.duration(b.get("timeout", "10s"), keys + ("timeout",)),
            viewport=self.viewport(b.get("viewport", [1280, 800]), keys + ("viewport",)),
        )

    def viewport(self, value: Any, keys: KeyPath) -> tuple[int, int]:
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                           for v in value)):
            raise self.fail(keys, "expected [width, height] in pixels, e.g. [1280, 800]")
        return (value[0], value[1])


def _default_step_name(kind: str, params: Mapping[str, Any]) -> str:
    if kind in ("http", "load"):
        return f"{kind}:{params.get('method', 'GET')} {params.get('path', '/')}"
    action = next((k for k in params if k != "timeout"), "step")
    return f"browser:{action}"


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__)
