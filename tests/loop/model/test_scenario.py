from __future__ import annotations

from pathlib import Path

import pytest

from cleanloop.loop.base.errors import ScenarioError
from cleanloop.loop.model.scenario import load_scenario

GOOD = """\
name: checkout
app:
  command: "{python} app/shop.py --port {port}"
  ready: {http: /healthz}
  timeout: 20s
  metrics: /metrics
steps:
  - http: {method: GET, path: /api/products}
  - load: {name: checkout, method: POST, path: /api/checkout, requests: 5, concurrency: 2}
  - browser: {click: "text=Add to cart", timeout: 2s}
checks:
  - span("POST /api/checkout").p95 < 300ms
  - logs(level >= error).count == 0
targets:
  - span("POST /api/checkout").p95 improves >= 10%
guards:
  - span(*).p95 regresses <= 5%
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_valid_scenario_becomes_frozen_dataclasses(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    assert s.name == "checkout"
    assert s.app.timeout_s == 20.0
    assert s.app.metrics_path == "/metrics"
    assert [st.kind for st in s.steps] == ["http", "load", "browser"]
    assert s.steps[1].name == "checkout" and s.steps[1].line == 9
    assert s.steps[2].params["timeout"] == 2.0
    assert s.checks[0].threshold == 300.0 and s.checks[0].kind == "absolute"
    assert s.checks[1].kind == "zero"
    assert s.targets[0].kind == "relative" and s.targets[0].threshold == pytest.approx(0.10)
    assert s.guards[0].role == "guard"
    assert s.uses_browser
    with pytest.raises(AttributeError):
        s.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (GOOD.replace("  timeout: 20s\n", "  timeout: 20s\n  colour: red\n"), 6, "app.colour",
     "unknown field 'colour'"),
    (GOOD.replace("requests: 5", "requests: lots"), 9, "steps[1].load.requests", "integer"),
    (GOOD.replace("timeout: 20s", "timeout: soon"), 5, "app.timeout", "duration"),
    (GOOD.replace("< 300ms", "<"), 12, "checks[0]", "expected 'number'"),
    (GOOD.replace("improves >= 10%", "improves >= 10"), 15, "targets[0]", "percentage"),
    (GOOD.replace("  - browser:", "  - telnet:"), 10, "steps[2].telnet", "unknown step kind"),
    (GOOD.replace("name: checkout\n", ""), None, None, "missing required field 'name'"),
    ("name: x\napp: [1\n", 3, None, "invalid YAML"),
    # a check's SLI is validated at load (it once passed loading and crashed after the run)
    (GOOD.replace("logs(level >= error).count == 0", "page.error == 0"), 13, "checks[1]",
     "unknown '.error'"),
    (GOOD.replace("logs(level >= error).count == 0", 'console(nosuchfield == "x").count == 0'),
     13, "checks[1]", "cannot filter on 'nosuchfield'"),
    (GOOD.replace("logs(level >= error)", "pods"), 13, "checks[1]", "unknown SLI 'pods'"),
    (GOOD.replace("span(*).p95", "span(*).p97"), 17, "guards[0]", "unknown '.p97'"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int | None,
                                         field: str | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.path == str(path)
    assert words in str(err)
    if line is not None:
        assert err.line == line, str(err)
        assert f"{path}:{line}" in str(err)
    if field is not None:
        assert err.field == field
        assert f"field '{field}'" in str(err)


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="empty"):
        load_scenario(write(tmp_path, ""))


def test_an_unimplemented_launcher_is_refused_not_ignored(tmp_path: Path) -> None:
    text = GOOD.replace("  timeout: 20s\n", "  timeout: 20s\n  launcher: docker\n")
    with pytest.raises(ScenarioError, match="launcher 'docker' is not available") as info:
        load_scenario(write(tmp_path, text))
    assert info.value.field == "app.launcher" and info.value.line == 6


def test_browser_settings_are_validated(tmp_path: Path) -> None:
    text = GOOD.replace("steps:\n", "browser: {viewport: [800, 600], timeout: 3s}\nsteps:\n")
    s = load_scenario(write(tmp_path, text))
    assert s.browser.viewport == (800, 600) and s.browser.timeout_s == 3.0
    bad = GOOD.replace("steps:\n", "browser: {viewport: wide}\nsteps:\n")
    with pytest.raises(ScenarioError, match=r"\[width, height\]") as info:
        load_scenario(write(tmp_path, bad))
    assert info.value.field == "browser.viewport"
