"""The SLI grammar checked at load (no data, no pandas) agrees with evaluation: a reference
the grammar accepts evaluates on empty data without a grammar error, and one it refuses fails
evaluation with the same message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cleanloop.loop.model import sli_grammar, sli_sources
from cleanloop.loop.model.checks import parse_sli
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.sli import SliRegistry
from cleanloop.loop.model.sli_grammar import grammar_roots, validate_sli
from cleanloop.loop.model.sli_sources import default_registry, register_source

CORPUS = [
    # every root, well formed
    'span("GET /").p95', "span(*).count", 'span(*, http.route="/x").error_count', "spans.p50",
    "logs.count", "logs(level >= error).count", 'logs("timeout*", service == "api")',
    'metric("http_requests_total").rate', 'metric("lat", source == "prom").p95', "app.startup",
    "app.crashed", 'load("checkout").p95', "load.rps", "load.errors", "console.errors",
    'console("boom*", url ~ "/cart").count', "console(level >= warning).count", "page.errors",
    "requests.count", "requests(status >= 400).count", 'request("POST /api/x").duration.p95',
    "request.size.max", "request.p50", "requests.failed", "vitals.lcp", 'vitals("/c").cls',
    "navigation.ttfb", 'cdp("JSHeapUsedSize").delta', 'step("add").ok', "step.duration",
    # wrong: unknown roots, attributes, arguments, filter fields and levels
    "pods.count", "page.error", "span.p97", "span", 'span("a", "b").p95', "logs.sum",
    "logs(level >= loud).count", 'metric("a", "b").value', "metric.p42", "app.memory",
    "load.p99", 'load("a", "b").p95', "console.errorz", 'console(nosuchfield == "x").count',
    "console(level >= shouting).count", 'console("a", "b").count', "page(level == error).errors",
    "requests.count.p95", "requests(nosuch == 1).count", "request.duration.p42",
    "vitals.xyz", 'vitals("a", "b").lcp', "navigation.paint", "cdp.max", 'cdp("A").median',
    "step.okay", 'step("a", "b").ok', "requests",
]


def _dynamic(registry: SliRegistry, text: str) -> str:
    try:
        registry.validate(parse_sli(text))
    except ValueError as exc:
        return str(exc)
    return ""


def _static(text: str) -> str:
    try:
        validate_sli(parse_sli(text))
    except ValueError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("text", CORPUS)
def test_the_grammar_agrees_with_evaluation(text: str) -> None:
    assert _static(text) == _dynamic(default_registry(), text)


def test_the_corpus_holds_both_good_and_bad_references() -> None:
    bad = [t for t in CORPUS if _static(t)]
    assert 25 <= len(bad) < len(CORPUS) - 25, bad


def test_every_registered_root_has_a_grammar() -> None:
    assert set(default_registry().roots) == set(grammar_roots())


def test_a_new_source_registers_its_roots_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    # registrations are process-wide: undone after this test
    monkeypatch.setattr(sli_grammar, "_GRAMMARS", dict(sli_grammar._GRAMMARS))
    monkeypatch.setattr(sli_sources, "_SOURCES", list(sli_sources._SOURCES))

    def grammar(ref: object) -> None:
        del ref

    def source(registry: SliRegistry) -> None:
        registry.add("pods", lambda run, ref: 1.0)

    assert _static("pods.ready") != ""
    register_source(source, {"pods": grammar})
    assert _static("pods.ready") == ""
    assert default_registry().evaluate(RunData(0), parse_sli("pods.ready")) == 1.0


def test_loading_a_scenario_does_not_import_pandas() -> None:
    """Validation at load costs no pandas import: the run imports it while the app boots."""
    shop = Path(__file__).resolve().parents[3] / "scenarios" / "shop"
    code = ("import sys\nfrom cleanloop.loop.model.scenario import load_scenario\n"
            f"for name in ('checkout-perf.yaml', 'ui-add-to-cart.yaml'):\n"
            f"    s = load_scenario({str(shop)!r} + '/' + name)\n"
            "    assert s.checks and s.guards\n"
            "print('pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "False"
