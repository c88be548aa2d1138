"""Browser step grammar: validation (`parse_step`) and execution (`perform`).

`step.params` is the mapping under `browser:`; it holds exactly one action key plus an
optional `timeout` (seconds). Scalars are shorthands for the action's main field:

    goto: URL | {url, wait_until}            click: SELECTOR      hover: SELECTOR
    fill: {selector, value}                  press: {key, selector?}
    select: {selector, value | [values]}     expect_visible: SELECTOR
    wait_for: SELECTOR | {selector [state] | text | url | network_idle: true}
    expect_text: {selector, text, exact?}    expect_count: {selector, count}
    screenshot: NAME | {name, full_page?}    snapshot: NAME      evaluate: "JS expression"
    emulate: {cpu: RATE, network: {latency_ms, download_kbps, upload_kbps, offline}}

URLs may be relative (the context's base_url resolves them). Malformed steps raise
ScenarioError naming the file, line and field; the scenario loader may call
`parse_step` early to validate a file before anything boots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.model.steps import Step

ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # action: (required fields, optional fields)
    "goto": (("url",), ("wait_until",)),
    "click": (("selector",), ()),
    "fill": (("selector", "value"), ()),
    "press": (("key",), ("selector",)),
    "select": (("selector", "value"), ()),
    "hover": (("selector",), ()),
    "wait_for": ((), ("selector", "state", "text", "url", "network_idle")),
    "expect_text": (("selector", "text"), ("exact",)),
    "expect_visible": (("selector",), ()),
    "expect_count": (("selector", "count"), ()),
    "screenshot": (("name",), ("full_page",)),
    "snapshot": (("name",), ()),
    "evaluate": (("expression",), ()),
    "emulate": ((), ("cpu", "network")),
}
#: the field a scalar value stands for
SHORTHAND = {"goto": "url", "click": "selector", "hover": "selector", "wait_for": "selector",
             "expect_visible": "selector", "screenshot": "name", "snapshot": "name",
             "evaluate": "expression"}
WAIT_TARGETS = ("selector", "text", "url", "network_idle")
CHOICES = {"wait_until": ("load", "domcontentloaded", "networkidle", "commit"),
           "state": ("visible", "hidden", "attached", "detached")}
NETWORK_FIELDS = ("latency_ms", "download_kbps", "upload_kbps", "offline")
STEP_KEYS = ("timeout",)


@dataclass(frozen=True)
class BrowserAction:
    """A validated browser step: action name, normalised fields, optional timeout (s)."""

    name: str
    args: Mapping[str, Any]
    timeout_s: float | None = None

    def target(self) -> str:
        """What the step waits for, for timeout messages."""
        if self.name == "wait_for":
            for key in WAIT_TARGETS:
                if key in self.args:
                    return "network idle" if key == "network_idle" else str(self.args[key])
        for key in ("selector", "url", "expression"):
            if key in self.args:
                return str(self.args[key])
        return "the page"


class _Checker:
    def __init__(self, step: Step, action: str) -> None:
        self.step, self.action = step, action

    def fail(self, message: str, field: str | None = None) -> ScenarioError:
        name = ".".join(part for part in ("browser", self.action, field) if part)
        return ScenarioError(f"step #{self.step.index}: {message}", path=self.step.source or None,
                             line=self.step.line or None, field=name)

    def text(self, value: Any, field: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"expected text, got {type(value).__name__}", field)
        text = str(value)
        if field != "value" and not text.strip():
            raise self.fail("must not be empty", field)
        return text

    def flag(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, got {value!r}", field)
        return value

    def number(self, value: Any, field: str, *, minimum: float, integer: bool = False) -> float:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
            what = "an integer" if integer else "a number"
            raise self.fail(f"expected {what} >= {minimum:g}, got {value!r}", field)
        return value


def parse_step(step: Step) -> BrowserAction:
    """Validate `step.params` into a BrowserAction, or raise ScenarioError."""
    params = step.params
    actions = [key for key in params if key not in STEP_KEYS]
    check = _Checker(step, actions[0] if len(actions) == 1 else "")
    if len(actions) != 1:
        raise check.fail("a browser step needs exactly one action, one of "
                         f"{', '.join(ACTIONS)} (got {', '.join(map(str, actions)) or 'none'})")
    name = str(actions[0])
    if name not in ACTIONS:
        raise check.fail(f"unknown browser action '{name}'; expected one of {', '.join(ACTIONS)}")
    timeout = params.get("timeout")
    if timeout is not None:
        timeout = float(check.number(timeout, "timeout", minimum=0.001))
    raw = params[name]
    if not isinstance(raw, Mapping):
        if name not in SHORTHAND:
            raise check.fail(f"expected a mapping with {', '.join(ACTIONS[name][0])}")
        raw = {SHORTHAND[name]: raw}
    return BrowserAction(name=name, args=_fields(check, name, raw), timeout_s=timeout)


def _fields(check: _Checker, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    required, optional = ACTIONS[name]
    unknown = [key for key in raw if key not in required + optional]
    if unknown:
        raise check.fail(f"unknown field(s) {', '.join(map(str, unknown))}; allowed: "
                         f"{', '.join(required + optional)}", str(unknown[0]))
    missing = [key for key in required if key not in raw]
    if missing:
        raise check.fail("missing required field", missing[0])
    args = {str(key): _value(check, str(key), value) for key, value in raw.items()}
    if name == "wait_for":
        targets = [key for key in WAIT_TARGETS if key in args]
        if len(targets) != 1:
            raise check.fail(f"needs exactly one of {', '.join(WAIT_TARGETS)}")
        if "state" in args and targets != ["selector"]:
            raise check.fail("only applies to a selector", "state")
        if args.get("network_idle") is False:
            raise check.fail("only `network_idle: true` makes sense", "network_idle")
    if name == "emulate" and not args:
        raise check.fail("needs cpu and/or network")
    return args


def _value(check: _Checker, key: str, value: Any) -> Any:
    if key in ("exact", "full_page", "network_idle"):
        return check.flag(value, key)
    if key == "count":
        return int(check.number(value, key, minimum=0, integer=True))
    if key == "cpu":
        return float(check.number(value, key, minimum=1))
    if key == "network":
        return _network(check, value)
    if key == "value" and isinstance(value, list):
        return [check.text(item, key) for item in value]
    text = check.text(value, key)
    if key in CHOICES and text not in CHOICES[key]:
        raise check.fail(f"expected one of {', '.join(CHOICES[key])}, got {text!r}", key)
    return text


def _network(check: _Checker, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise check.fail(f"expected a mapping with {', '.join(NETWORK_FIELDS)}", "network")
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = f"network.{key}"
        if key == "offline":
            out[key] = check.flag(item, field)
        elif key in NETWORK_FIELDS:
            out[key] = float(check.number(item, field, minimum=0))
        else:
            raise check.fail(f"unknown field; allowed: {', '.join(NETWORK_FIELDS)}", field)
    return out
