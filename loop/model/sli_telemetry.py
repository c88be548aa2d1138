"""Telemetry SLIs: spans, logs, metrics (OTLP and Prometheus), the app and load steps.

    span("POST /api/checkout").p95        span(*, http.route="/x").count
    span("db.query").error_count          logs(level >= error).count
    logs(message ~ "timeout").count       metric("shop_requests_total", status="500").value
    metric("shop_request_duration_seconds", route="/api/checkout").p95
    metric("process_cpu_seconds").rate    app.startup    app.crashed
    load("checkout").p95 | .rps | .errors
Durations are in milliseconds. Log counts take each (level, message) once per
channel: a line the app sent both over OTLP and to stdout counts once.

No data is None, never 0, so it never passes a check, zero-count checks included:
- span(...): every aggregate over a selection that matched no span is None
  (`span("GET /typo").error_count == 0` fails with "no data"). `.count` is the one
  exception: 0 matched spans is a real value ("the N+1 query span is gone") when the run
  received spans at all; in a run whose spans table is empty (tracing off or broken, no
  span received) it is None too.
- metric(...): None when no series matched.
- logs(...).count: 0 when no line matched, even when none was received: stdout/stderr
  are always captured, so a log count of 0 is always a measurement.
- load("NAME"): None when no load step has that name.
"""

from __future__ import annotations

import fnmatch
import json
import math

import numpy as np
import pandas as pd

from cleanloop.loop.base.schema import LEVEL_RANK
from cleanloop.loop.model.checks import SliRef
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.sli import SliRegistry, aggregate, apply_filter
from cleanloop.loop.model.sli_grammar import (
    LOAD_FIELDS,
    METRIC_AGGS,
    PERCENTILES,
    SPAN_AGGS,
    single_arg,
    tail_name,
)

_SPAN_COLUMNS = {"status", "kind", "service", "name", "trace_id", "parent_span_id"}


def _by_name(df: pd.DataFrame, column: str, pattern: str) -> pd.DataFrame:
    if pattern == "*":
        return df
    if any(c in pattern for c in "*?["):
        # astype(bool): an empty object-dtype mask would select columns, not rows
        mask = df[column].astype(str).map(lambda v: fnmatch.fnmatchcase(v, pattern))
        return df[mask.astype(bool)]
    return df[df[column] == pattern]


def _attribute_column(df: pd.DataFrame, key: str, column: str = "attributes") -> pd.Series:
    def get(raw: object) -> object:
        try:
            return json.loads(str(raw)).get(key) if raw else None
        except (ValueError, AttributeError):
            return None

    return df[column].map(get)


def matching_spans(run: RunData, ref: SliRef) -> pd.DataFrame:
    """The spans a `span(NAME, filters...)` reference selects (the SLI and its evidence)."""
    df = _by_name(run.frame("spans"), "name", single_arg(ref, "span name"))
    for flt in ref.segments[0].filters:
        column = df[flt.field] if flt.field in _SPAN_COLUMNS else _attribute_column(df, flt.field)
        df = apply_filter(df, flt, column)
    return df


def span_sli(run: RunData, ref: SliRef) -> float | None:
    how = tail_name(ref, SPAN_AGGS)
    df = matching_spans(run, ref)
    if df.empty:
        # no span matched: no data, except a count in a run that received spans at all
        return 0.0 if how == "count" and not run.frame("spans").empty else None
    if how == "error_count":
        return float((df["status"] == "ERROR").sum())
    return aggregate(df["duration_ms"].astype(float), how)


def matching_logs(run: RunData, ref: SliRef) -> pd.DataFrame:
    """The log rows a `logs(...)` reference selects (the SLI and its evidence)."""
    df = run.frame("logs")
    args = ref.segments[0].args
    if args and args[0] != "*":
        df = _by_name(df, "message", args[0])
    for flt in ref.segments[0].filters:
        if flt.field == "level":
            df = apply_filter(df, flt, df["level"], rank=LEVEL_RANK)
        elif flt.field in ("message", "source", "service", "trace_id", "span_id"):
            df = apply_filter(df, flt, df[flt.field])
        else:
            df = apply_filter(df, flt, _attribute_column(df, flt.field))
    return df


def logs_sli(run: RunData, ref: SliRef) -> float | None:
    tail_name(ref, ("count",), default="count")
    df = matching_logs(run, ref)
    if df.empty:
        return 0.0
    channel = np.where(df["source"] == "otlp", "otlp", "process")
    counts = df.assign(_channel=channel).groupby(["level", "message", "_channel"]).size()
    return float(counts.groupby(level=["level", "message"]).max().sum())


def _histogram_quantile(buckets: pd.DataFrame, q: float) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets (le -> count)."""
    by_le = buckets.groupby("le")["value"].sum().sort_index()
    if by_le.empty or by_le.iloc[-1] <= 0:
        return None
    total = by_le.iloc[-1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in by_le.items():
        if count >= rank:
            if math.isinf(float(le)):
                return prev_le
            width = float(le) - prev_le
            inside = count - prev_count
            return prev_le + width * ((rank - prev_count) / inside if inside > 0 else 1.0)
        prev_le, prev_count = float(le), float(count)
    return prev_le


def metric_sli(run: RunData, ref: SliRef) -> float | None:
    how = tail_name(ref, METRIC_AGGS)
    pattern = single_arg(ref, "metric name")
    df = run.frame("metrics")
    df = df[~df["sample"].astype(str).str.endswith("_created")]
    df = pd.concat([_by_name(df, "name", pattern), _by_name(df, "sample", pattern)])
    df = df[~df.index.duplicated()]
    for flt in ref.segments[0].filters:
        column = df["source"] if flt.field == "source" else _attribute_column(df, flt.field,
                                                                              "labels")
        df = apply_filter(df, flt, column)
    if df.empty:
        return None
    series = ["source", "sample", "labels", "le"]
    last = df.sort_values("ts_ns").groupby(series, dropna=False).tail(1)
    samples = last["sample"].astype(str)
    if how in PERCENTILES:
        buckets = last[samples.str.endswith("_bucket")]
        if buckets.empty:
            raise ValueError(f"{ref.text}: .{how} needs a histogram with buckets")
        return _histogram_quantile(buckets, PERCENTILES[how])
    if how in ("count", "sum") and samples.str.endswith(f"_{how}").any():
        return float(last[samples.str.endswith(f"_{how}")]["value"].sum())
    if how == "mean" and samples.str.endswith("_count").any():
        count = last[samples.str.endswith("_count")]["value"].sum()
        total = last[samples.str.endswith("_sum")]["value"].sum()
        return float(total / count) if count else None
    plain = df[~df["sample"].astype(str).str.endswith(("_bucket", "_sum", "_count"))]
    if how == "rate":
        return _rate(plain)
    if how in ("max", "min", "mean"):
        return aggregate(plain["value"].astype(float), how)
    return float(last.loc[plain.index.intersection(last.index), "value"].sum())


def _rate(df: pd.DataFrame) -> float | None:
    total = 0.0
    seen = False
    for _, g in df.sort_values("ts_ns").groupby(["source", "sample", "labels"], dropna=False):
        if len(g) < 2:
            continue
        dt_s = (g["ts_ns"].iloc[-1] - g["ts_ns"].iloc[0]) / 1e9
        if dt_s > 0:
            total += (g["value"].iloc[-1] - g["value"].iloc[0]) / dt_s
            seen = True
    return total if seen else None


def app_sli(run: RunData, ref: SliRef) -> float | None:
    what = tail_name(ref, ("startup", "crashed"))
    if what == "startup":
        return run.startup_ms
    return 1.0 if run.crashed else 0.0


def load_sli(run: RunData, ref: SliRef) -> float | None:
    what = tail_name(ref, (*LOAD_FIELDS, "errors"))
    name = single_arg(ref, "step name")
    for step in run.steps:
        if step.kind == "load" and (name == "*" or fnmatch.fnmatchcase(step.name, name)):
            if what == "errors":
                statuses = step.evidence.get("statuses", {})
                return float(sum(v for k, v in statuses.items()
                                 if not (k.isdigit() and int(k) < 400)))
            value = step.evidence.get(LOAD_FIELDS[what])
            return None if value is None else float(value)
    return None


def register(registry: SliRegistry) -> None:
    registry.add("span", span_sli)
    registry.add("spans", span_sli)
    registry.add("logs", logs_sli)
    registry.add("metric", metric_sli)
    registry.add("app", app_sli)
    registry.add("load", load_sli)
