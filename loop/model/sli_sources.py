"""The SLI sources: what fills a registry with SLI roots (`span`, `logs`, `console` ...).

A source is a function that adds its roots to a `SliRegistry`. The built-in sources are the
telemetry SLIs (spans, logs, metrics, the app, load steps) and the browser SLIs. Another
source (a PromQL query on a remote Prometheus, Docker stats) plugs in with `register_source`
before scenarios load, with the grammar of each root it adds
(cleanloop.loop.model.sli_grammar): the loader validates checks with the grammars, every
registry made afterwards evaluates with the source's functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cleanloop.loop.model import sli_browser, sli_telemetry
from cleanloop.loop.model.sli import SliRegistry
from cleanloop.loop.model.sli_grammar import Grammar, register_grammar

SliSource = Callable[[SliRegistry], None]

_SOURCES: list[SliSource] = [sli_telemetry.register, sli_browser.register]


def register_source(source: SliSource, grammars: Mapping[str, Grammar]) -> None:
    """Add an SLI source to every registry made from now on (idempotent), and the grammar of
    each root it registers, which the scenario loader checks every reference against."""
    for root, grammar in grammars.items():
        register_grammar(root, grammar)
    if source not in _SOURCES:
        _SOURCES.append(source)


def default_registry() -> SliRegistry:
    """A registry with every registered source's roots."""
    registry = SliRegistry()
    for source in _SOURCES:
        source(registry)
    return registry
