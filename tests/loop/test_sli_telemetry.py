"""The telemetry SLIs and the check evaluation over repetitions, on hand-made tables."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from loop.checks import parse_check, parse_sli
from loop.evaluation import evaluate_check
from loop.sli import RunData, default_registry
from probes.base import StepResult

REGISTRY = default_registry()


def spans(*rows: tuple[str, float, str, dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame({
        "name": [r[0] for r in rows], "duration_ms": [r[1] for r in rows],
        "status": [r[2] for r in rows], "attributes": [json.dumps(r[3]) for r in rows],
        "kind": ["SERVER"] * len(rows), "service": ["shop"] * len(rows),
        "trace_id": [f"{i:032x}" for i in range(len(rows))],
        "parent_span_id": [""] * len(rows)})


def logs(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame({"source": [r[0] for r in rows], "level": [r[1] for r in rows],
                         "message": [r[2] for r in rows], "trace_id": [""] * len(rows),
                         "span_id": [""] * len(rows), "service": ["shop"] * len(rows),
                         "attributes": ["{}"] * len(rows)})


def metrics(*rows: tuple[int, str, str, str, dict[str, str], float, float]) -> pd.DataFrame:
    return pd.DataFrame({
        "ts_ns": [r[0] for r in rows], "source": ["prometheus"] * len(rows),
        "name": [r[1] for r in rows], "sample": [r[2] for r in rows],
        "type": [r[3] for r in rows], "labels": [json.dumps(r[4]) for r in rows],
        "le": [r[5] for r in rows], "value": [r[6] for r in rows]})


def value(text: str, run: RunData) -> float | None:
    return REGISTRY.evaluate(run, parse_sli(text))


def test_span_percentiles_counts_errors_and_attribute_filters() -> None:
    run = RunData(0, {"spans": spans(
        ("POST /api/checkout", 10.0, "OK", {"http.route": "/api/checkout"}),
        ("POST /api/checkout", 20.0, "ERROR", {"http.route": "/api/checkout"}),
        ("POST /api/checkout", 30.0, "OK", {"http.route": "/api/checkout"}),
        ("db.query", 1.0, "OK", {"db.statement": "SELECT 1"}))})
    assert value('span("POST /api/checkout").p50', run) == 20.0
    assert value('span("POST /api/checkout").max', run) == 30.0
    assert value('span("POST /api/checkout").count', run) == 3
    assert value('span("POST /api/checkout").error_count', run) == 1
    assert value('span("POST *").mean', run) == 20.0
    assert value('span(*, http.route = "/api/checkout").count', run) == 3
    assert value('span(*, status == "ERROR").count', run) == 1
    assert value('span("nothing").p95', run) is None      # no data, not zero
    assert value('span("nothing").count', run) == 0
    with pytest.raises(ValueError, match="unknown '.p42'"):
        value('span("x").p42', run)


def test_logs_are_counted_once_across_otlp_and_stdout() -> None:
    run = RunData(0, {"logs": logs(
        ("otlp", "error", "price feed unavailable"), ("stdout", "error", "price feed unavailable"),
        ("otlp", "error", "price feed unavailable"), ("stdout", "error", "price feed unavailable"),
        ("stderr", "error", "Traceback (most recent call last):"),
        ("otlp", "warning", "slow"), ("otlp", "info", "ok"))})
    assert value("logs(level >= error).count", run) == 3   # 2 deduplicated + 1 stderr-only
    assert value("logs(level >= warning).count", run) == 4
    assert value('logs(message ~ "price").count', run) == 2
    assert value('logs(source == "stderr").count', run) == 1
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        value("logs(level >= loud).count", run)


def test_prometheus_values_rates_and_histogram_quantiles() -> None:
    s = 1_000_000_000
    rows = [(0, "shop_requests", "shop_requests_total", "counter", {"route": "/a"}, math.nan, 10.0),
            (2 * s, "shop_requests", "shop_requests_total", "counter", {"route": "/a"}, math.nan,
             30.0),
            (2 * s, "shop_requests", "shop_requests_total", "counter", {"route": "/b"}, math.nan,
             5.0),
            (2 * s, "shop_requests", "shop_requests_created", "counter", {"route": "/a"},
             math.nan, 1.7e9)]
    for le, count in ((0.01, 50.0), (0.05, 90.0), (0.1, 100.0), (math.inf, 100.0)):
        rows.append((2 * s, "lat_seconds", "lat_seconds_bucket", "histogram", {"route": "/a"},
                     le, count))
    rows += [(2 * s, "lat_seconds", "lat_seconds_count", "histogram", {"route": "/a"}, math.nan,
              100.0),
             (2 * s, "lat_seconds", "lat_seconds_sum", "histogram", {"route": "/a"}, math.nan,
              2.0)]
    run = RunData(0, {"metrics": metrics(*rows)})
    assert value('metric("shop_requests_total").value', run) == 35.0   # last value, summed
    assert value('metric("shop_requests_total", route="/a").value', run) == 30.0
    assert value('metric("shop_requests_total", route="/a").rate', run) == 10.0
    # rank 50 of 100 sits exactly at the 0.01 bucket's upper bound
    assert value('metric("lat_seconds").p50', run) == pytest.approx(0.01)
    # rank 95: 5 of the 10 in (0.05, 0.1] -> 0.075 by linear interpolation
    assert value('metric("lat_seconds").p95', run) == pytest.approx(0.075)
    assert value('metric("lat_seconds").mean', run) == pytest.approx(0.02)
    assert value('metric("lat_seconds").count', run) == 100.0
    assert value('metric("absent").value', run) is None


def test_app_and_load_slis() -> None:
    load = StepResult(1, "load", "checkout", True, 500.0, evidence={
        "p95_ms": 42.0, "rps": 80.0, "requests": 40, "statuses": {"200": 38, "500": 1,
                                                                  "ConnectError": 1}})
    run = RunData(0, {}, startup_ms=640.0, steps=[load], crashed=True)
    assert value("app.startup", run) == 640.0
    assert value("app.crashed", run) == 1.0
    assert value('load("checkout").p95', run) == 42.0
    assert value('load("checkout").errors', run) == 2.0
    assert value('load("other").p95', run) is None


def runs_with_startups(*ms: float | None) -> list[RunData]:
    return [RunData(i, {}, startup_ms=v) for i, v in enumerate(ms)]


def test_absolute_checks_use_the_median_and_show_the_worst_run() -> None:
    check = parse_check("app.startup < 800ms")
    res = evaluate_check(REGISTRY, check, runs_with_startups(700.0, 900.0, 750.0))
    assert res.ok and res.value == 750.0 and res.worst == 900.0
    res = evaluate_check(REGISTRY, check, runs_with_startups(700.0, 900.0, 850.0))
    assert not res.ok and res.value == 850.0
    assert res.evidence["startup_ms"] == [700.0, 900.0, 850.0]


def test_zero_checks_must_hold_in_every_run_and_missing_data_never_passes() -> None:
    zero = parse_check("app.crashed == 0")
    runs = [RunData(0, {}), RunData(1, {}, crashed=True), RunData(2, {})]
    res = evaluate_check(REGISTRY, zero, runs)
    assert not res.ok and res.note == "non-zero in 1 of 3 run(s)"
    missing = evaluate_check(REGISTRY, parse_check("app.startup < 800ms"),
                             runs_with_startups(100.0, None))
    assert not missing.ok and missing.note == "no data in 1 of 2 run(s)"


def test_a_name_glob_over_a_run_without_spans_is_no_data() -> None:
    empty = RunData(0, {})
    assert value('span("GET /api/*").p95', empty) is None
    assert value('span("GET /api/*").count', empty) == 0
    assert value('logs("timeout*").count', empty) == 0
