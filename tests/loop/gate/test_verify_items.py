"""What `verify` hands the gate: targets, guards, default guards and span-glob guards."""

from __future__ import annotations

from pathlib import Path

from cleanloop.loop.gate.items import DEFAULT_GUARD_TOLERANCE, expand, gate_inputs, planned_items
from cleanloop.loop.gate.rules import DEFAULT_PLAN, Classification, decide
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario, load_scenario
from cleanloop.loop.model.sli_sources import default_registry
from tests.loop.model.test_sli_telemetry import spans

REGISTRY = default_registry()

SCENARIO = """\
name: items
app: {command: "true"}
steps:
  - http: {path: /}
checks:
  - span("GET /a").p95 < 50ms
  - app.startup < 800ms
  - logs(level >= error).count == 0
targets:
  - span("GET /a").p95 improves >= 10%
guards:
  - span("GET /api/*").p95 regresses <= 20%
"""


def scenario(tmp_path: Path, text: str = SCENARIO) -> Scenario:
    path = tmp_path / "items.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def runs(names: tuple[str, ...], ms: float, n: int = 6) -> list[RunData]:
    return [RunData(i, {"spans": spans(*((name, ms + i, "OK", {}) for name in names))},
                    startup_ms=300.0 + i)
            for i in range(n)]


def test_every_sli_of_a_non_zero_check_is_guarded_by_default(tmp_path: Path) -> None:
    items = planned_items(scenario(tmp_path))
    by_sli = {(i.role, i.ref.text): i for i in items}
    # the target covers span("GET /a").p95; the zero-count check holds in every run already
    assert set(by_sli) == {("target", 'span("GET /a").p95'),
                           ("guard", 'span("GET /api/*").p95'),
                           ("guard", "app.startup")}
    default = by_sli[("guard", "app.startup")]
    assert default.required == DEFAULT_GUARD_TOLERANCE
    assert "default guard for 'app.startup < 800ms'" in default.source


def test_a_slower_start_up_is_caught_by_its_default_guard(tmp_path: Path) -> None:
    items = [i for i in planned_items(scenario(tmp_path))
             if i.ref.text == "app.startup"]
    base = [RunData(i, {}, startup_ms=300.0 + i) for i in range(6)]
    cand = [RunData(i, {}, startup_ms=600.0 + i) for i in range(6)]
    decision = decide(gate_inputs(REGISTRY, items, base, cand), DEFAULT_PLAN, 0)
    assert decision.outcome == "reject"
    assert decision.comparisons[0].classification == Classification.REGRESSED


def test_a_span_glob_guard_becomes_one_guard_per_baseline_span_name(tmp_path: Path) -> None:
    items = planned_items(scenario(tmp_path))
    base = runs(("GET /api/products", "GET /api/cart", "GET /a"), 10.0)
    expanded = [i.ref.text for i in expand(items, base) if i.role == "guard"]
    assert sorted(expanded) == ['app.startup', 'span("GET /api/cart").p95',
                                'span("GET /api/products").p95']


def test_a_span_glob_matching_nothing_stays_a_guard_and_rejects_as_missing(
        tmp_path: Path) -> None:
    items = [i for i in planned_items(scenario(tmp_path))
             if i.ref.text.startswith('span("GET /api/')]
    base, cand = runs(("GET /a",), 10.0), runs(("GET /a",), 10.0)
    expanded = expand(items, base)
    assert [i.ref.text for i in expanded] == ['span("GET /api/*").p95']
    decision = decide(gate_inputs(REGISTRY, expanded, base, cand), DEFAULT_PLAN, 0)
    assert decision.outcome == "reject"
    assert decision.comparisons[0].classification == Classification.MISSING


def test_no_spans_at_all_is_missing_not_a_pass(tmp_path: Path) -> None:
    items = planned_items(scenario(tmp_path))
    empty = [RunData(i, {}, startup_ms=300.0) for i in range(6)]
    decision = decide(gate_inputs(REGISTRY, expand(items, empty), empty, empty), DEFAULT_PLAN, 0)
    assert decision.outcome == "reject"
    missing = {c.sli for c in decision.comparisons
               if c.classification == Classification.MISSING}
    assert missing == {'span("GET /a").p95', 'span("GET /api/*").p95'}
