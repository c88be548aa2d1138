"""The grammar of every SLI root, checked without data (and without pandas).

The scenario loader validates every check, target and guard here, so a wrong check
(`page.error == 0`, `console(nosuchfield == "x").count`) is a ScenarioError at load, before
anything boots, at the cost of microseconds: the SLI implementations (sli_telemetry,
sli_browser) need pandas, which the run imports in the background while the app boots.

The implementations call the same helpers (`tail_name`, `single_arg`, `ranked_value`) with
the same names and constants, so a reference this grammar accepts evaluates without a grammar
error, and one it refuses gets the same message the evaluation would give; a test runs both
over a corpus of references. A new SLI source registers its roots' grammars with
`register_grammar` (cleanloop.loop.model.sli_sources.register_source does it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cleanloop.loop.base.schema import LEVEL_RANK
from cleanloop.loop.model.checks import Filter, SliRef

#: checks a reference's grammar; ValueError naming what is wrong
Grammar = Callable[[SliRef], None]

PERCENTILES = {"p50": 0.50, "median": 0.50, "p75": 0.75, "p90": 0.90, "p95": 0.95,
               "p99": 0.99}
SPAN_AGGS = ("p50", "p75", "p90", "p95", "p99", "median", "mean", "min", "max", "count",
             "sum", "error_count")
METRIC_AGGS = ("value", "rate", "max", "min", "mean", "count", "sum", *PERCENTILES)
#: load step SLI -> the load step's evidence key
LOAD_FIELDS = {"p50": "p50_ms", "p95": "p95_ms", "max": "max_ms", "rps": "rps",
               "requests": "requests"}
CONSOLE_RANK = {"debug": 0, "verbose": 0, "log": 1, "info": 1, "warning": 2, "warn": 2,
                "error": 3}
AGGREGATES = ("count", "sum", "mean", "min", "max", *PERCENTILES)
VITALS = {"lcp": "LCP", "fcp": "FCP", "cls": "CLS", "inp": "INP", "tbt": "TBT"}
NAVIGATION = {"ttfb": "ttfb", "dom_interactive": "domInteractive",
              "dom_content_loaded": "domContentLoaded", "load": "load"}
TEXT_FIELDS = ("text", "url", "location", "method", "trace_id", "name", "stack")
CDP_AGGS = ("last", "first", "max", "min", "mean", "delta")


# ---- helpers shared with the implementations --------------------------------------------

def tail_name(ref: SliRef, allowed: Sequence[str], default: str | None = None) -> str:
    path = ref.path
    if not path:
        if default is None:
            raise ValueError(f"{ref.text}: say what to measure, e.g. .{allowed[0]}")
        return default
    if len(path) != 1 or path[0] not in allowed:
        raise ValueError(f"{ref.text}: unknown '.{'.'.join(path)}' (use one of: "
                         f"{', '.join(allowed)})")
    return path[0]


def single_arg(ref: SliRef, what: str) -> str:
    args = ref.segments[0].args
    if len(args) > 1:
        raise ValueError(f"{ref.root}(...) takes one {what}, got {len(args)}")
    return args[0] if args else "*"


def browser_pattern(ref: SliRef, what: str) -> str:
    """The one pattern argument of a browser SLI ("*" when none)."""
    args = ref.segments[0].args
    if len(args) > 1:
        raise ValueError(f"{ref.text}: {ref.root}(...) takes one {what}, got {len(args)}")
    return args[0] if args else "*"


def ranked_value(flt: Filter, rank: Mapping[str, int]) -> str | float:
    """A filter's value on a ranked column (levels): its rank; ValueError when unknown."""
    value = flt.value
    if isinstance(value, str):
        if value not in rank:
            raise ValueError(f"unknown {flt.field} '{value}' (known: {', '.join(rank)})")
        return float(rank[value])
    return value


def allowed_filter(ref: SliRef, flt: Filter, allowed: Sequence[str]) -> None:
    if flt.field not in allowed:
        raise ValueError(f"{ref.text}: cannot filter on '{flt.field}' (use one of: "
                         f"{', '.join(allowed)})")


def _browser_filters(ref: SliRef, allowed: Sequence[str]) -> None:
    """As the browser SLIs apply them: each filter's field, then a level's value."""
    for flt in ref.segments[0].filters:
        allowed_filter(ref, flt, allowed)
        if flt.field == "level" and flt.op != "~":
            ranked_value(flt, CONSOLE_RANK)


def request_path(ref: SliRef) -> tuple[str, str]:
    """(column, aggregation) of a requests SLI; ("", head) for count/errors/failed."""
    path = ref.path
    head = path[0] if path else ""
    if len(path) == 1 and head in ("count", "errors", "failed"):
        return "", head
    if len(path) == 2 and head in ("duration", "size") and path[1] in AGGREGATES:
        return head + ("_ms" if head == "duration" else ""), path[1]
    if len(path) == 1 and head in AGGREGATES and head != "count":
        return "duration_ms", head
    raise ValueError(f"{ref.text}: unknown '.{'.'.join(path)}' (use .count, .errors, "
                     ".failed, .duration.p95 (or any of " + ", ".join(AGGREGATES)
                     + "), .size.max)")


def _level_filters(ref: SliRef, rank: Mapping[str, int]) -> None:
    for flt in ref.segments[0].filters:
        if flt.field == "level" and flt.op != "~":
            ranked_value(flt, rank)


# ---- the built-in roots ---------------------------------------------------------------

def _span(ref: SliRef) -> None:
    tail_name(ref, SPAN_AGGS)
    single_arg(ref, "span name")


def _logs(ref: SliRef) -> None:
    tail_name(ref, ("count",), default="count")
    _level_filters(ref, LEVEL_RANK)


def _metric(ref: SliRef) -> None:
    tail_name(ref, METRIC_AGGS)
    single_arg(ref, "metric name")


def _app(ref: SliRef) -> None:
    tail_name(ref, ("startup", "crashed"))


def _load(ref: SliRef) -> None:
    tail_name(ref, (*LOAD_FIELDS, "errors"))
    single_arg(ref, "step name")


def _console(ref: SliRef) -> None:
    tail_name(ref, ("errors", "warnings", "count"))
    browser_pattern(ref, "text pattern")
    _browser_filters(ref, ("level", *TEXT_FIELDS))


def _page(ref: SliRef) -> None:
    tail_name(ref, ("errors",))
    browser_pattern(ref, "text pattern")
    _browser_filters(ref, TEXT_FIELDS)


def _requests(ref: SliRef) -> None:
    browser_pattern(ref, "URL pattern")
    _browser_filters(ref, ("status", *TEXT_FIELDS))
    request_path(ref)


def _vitals(ref: SliRef) -> None:
    tail_name(ref, tuple(VITALS))
    browser_pattern(ref, "URL pattern")


def _navigation(ref: SliRef) -> None:
    tail_name(ref, tuple(NAVIGATION))
    browser_pattern(ref, "URL pattern")


def _cdp(ref: SliRef) -> None:
    tail_name(ref, CDP_AGGS)
    if browser_pattern(ref, "CDP metric name") == "*":
        raise ValueError(f"{ref.text}: name a metric, e.g. cdp(\"JSHeapUsedSize\").max")


def _step(ref: SliRef) -> None:
    tail_name(ref, ("duration", "ok", "failed"))
    browser_pattern(ref, "step name")


_GRAMMARS: dict[str, Grammar] = {
    "span": _span, "spans": _span, "logs": _logs, "metric": _metric, "app": _app,
    "load": _load, "console": _console, "page": _page, "requests": _requests,
    "request": _requests, "vitals": _vitals, "navigation": _navigation, "cdp": _cdp,
    "step": _step,
}


def register_grammar(root: str, grammar: Grammar) -> None:
    """The grammar of a new SLI root (a registered SLI source's)."""
    _GRAMMARS[root] = grammar


def grammar_roots() -> tuple[str, ...]:
    return tuple(sorted(_GRAMMARS))


def validate_sli(ref: SliRef) -> None:
    """ValueError when `ref` names an unknown root, attribute, argument or filter field."""
    grammar = _GRAMMARS.get(ref.root)
    if grammar is None:
        raise ValueError(f"unknown SLI '{ref.root}' (known: {', '.join(grammar_roots())})")
    grammar(ref)
