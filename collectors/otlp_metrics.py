"""OTLP metrics as Prometheus-shaped rows of the `metrics` table.

One row per sample, the way a Prometheus scrape of the same data would look:

- Sum: `type` counter when monotonic, else gauge; one row, `sample` = name.
- Gauge: one row, type gauge.
- Histogram: one `<name>_bucket` row per bucket with `le` the explicit upper bound
  (the last one +inf) and a **cumulative** count, then `<name>_sum` (when sent) and
  `<name>_count`.
- ExponentialHistogram: the same, the bucket bounds computed from `scale`
  (negative buckets, the zero bucket with `le` = zero_threshold, positive buckets, +inf).
- Summary: one row per quantile (`quantile` label), `_sum` and `_count`; type summary.

`labels` is the JSON of the data point attributes with sorted keys; `le` is NaN
outside buckets. Names are kept as sent (dots included). Temporality is not
converted: delta sums and histograms are stored as sent.
"""

from __future__ import annotations

import json
import math
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from cleanloop.collectors.otlp_values import attrs_dict, labels_json
from cleanloop.loop.base.schema import Columns

NAN = math.nan
INF = math.inf


class _Rows:
    """Column lists of the metrics table plus one `add` per row."""

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.name: list[str] = []
        self.sample: list[str] = []
        self.type: list[str] = []
        self.labels: list[str] = []
        self.le: list[float] = []
        self.value: list[float] = []

    def add(self, ts: int, name: str, sample: str, kind: str, labels: str, le: float,
            value: float) -> None:
        self.ts.append(ts)
        self.name.append(name)
        self.sample.append(sample)
        self.type.append(kind)
        self.labels.append(labels)
        self.le.append(le)
        self.value.append(value)

    def columns(self) -> Columns:
        return {
            "ts_ns": self.ts, "source": ["otlp"] * len(self.ts), "name": self.name,
            "sample": self.sample, "type": self.type, "labels": self.labels, "le": self.le,
            "value": self.value,
        }


def _number(dp: NumberDataPoint) -> float:
    if dp.WhichOneof("value") == "as_int":
        return float(dp.as_int)
    return dp.as_double


def _histogram(rows: _Rows, name: str, dp: HistogramDataPoint) -> None:
    ts, labels = dp.time_unix_nano, labels_json(dp.attributes)
    bounds = dp.explicit_bounds
    n_bounds = len(bounds)
    bucket = name + "_bucket"
    cumulative = 0
    for i, count in enumerate(dp.bucket_counts):
        cumulative += count
        rows.add(ts, name, bucket, "histogram", labels, bounds[i] if i < n_bounds else INF,
                 float(cumulative))
    if not dp.bucket_counts:
        rows.add(ts, name, bucket, "histogram", labels, INF, float(dp.count))
    _sum_count(rows, name, "histogram", ts, labels, dp)


def _sum_count(rows: _Rows, name: str, kind: str, ts: int, labels: str,
               dp: HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint) -> None:
    if not isinstance(dp, HistogramDataPoint | ExponentialHistogramDataPoint) or dp.HasField("sum"):
        rows.add(ts, name, name + "_sum", kind, labels, NAN, dp.sum)
    rows.add(ts, name, name + "_count", kind, labels, NAN, float(dp.count))


def _exp_bound(index: int, scale: int) -> float:
    """base ** index with base = 2 ** (2 ** -scale).

    Positive bucket `i` spans (base**i, base**(i+1)], negative bucket `i` [-base**(i+1), -base**i).
    """
    try:
        return float(2.0 ** (index * 2.0 ** -scale))
    except OverflowError:
        return INF


def _exponential(rows: _Rows, name: str, dp: ExponentialHistogramDataPoint) -> None:
    ts, labels = dp.time_unix_nano, labels_json(dp.attributes)
    bucket = name + "_bucket"
    cumulative = 0
    neg = dp.negative
    # negative buckets from the most negative up: index i covers [-base**(i+1), -base**i)
    for k in range(len(neg.bucket_counts) - 1, -1, -1):
        cumulative += neg.bucket_counts[k]
        rows.add(ts, name, bucket, "histogram", labels, -_exp_bound(neg.offset + k, dp.scale),
                 float(cumulative))
    cumulative += dp.zero_count
    rows.add(ts, name, bucket, "histogram", labels, dp.zero_threshold, float(cumulative))
    pos = dp.positive
    for k, count in enumerate(pos.bucket_counts):
        cumulative += count
        rows.add(ts, name, bucket, "histogram", labels, _exp_bound(pos.offset + k + 1, dp.scale),
                 float(cumulative))
    rows.add(ts, name, bucket, "histogram", labels, INF, float(dp.count))
    _sum_count(rows, name, "histogram", ts, labels, dp)


def _summary(rows: _Rows, name: str, dp: SummaryDataPoint) -> None:
    ts = dp.time_unix_nano
    attrs: dict[str, Any] = attrs_dict(dp.attributes)
    for q in dp.quantile_values:
        with_q = json.dumps({**attrs, "quantile": repr(q.quantile)}, sort_keys=True,
                            separators=(",", ":"))
        rows.add(ts, name, name, "summary", with_q, NAN, q.value)
    _sum_count(rows, name, "summary", ts, labels_json(dp.attributes), dp)


def _metric(rows: _Rows, metric: Metric) -> None:
    name = metric.name
    which = metric.WhichOneof("data")
    if which == "sum":
        kind = "counter" if metric.sum.is_monotonic else "gauge"
        for dp in metric.sum.data_points:
            rows.add(dp.time_unix_nano, name, name, kind, labels_json(dp.attributes), NAN,
                     _number(dp))
    elif which == "gauge":
        for dp in metric.gauge.data_points:
            rows.add(dp.time_unix_nano, name, name, "gauge", labels_json(dp.attributes), NAN,
                     _number(dp))
    elif which == "histogram":
        for hp in metric.histogram.data_points:
            _histogram(rows, name, hp)
    elif which == "exponential_histogram":
        for ep in metric.exponential_histogram.data_points:
            _exponential(rows, name, ep)
    elif which == "summary":
        for sp in metric.summary.data_points:
            _summary(rows, name, sp)


def metrics_columns(request: ExportMetricsServiceRequest) -> Columns:
    """Every data point of the request as `metrics` rows (source "otlp")."""
    rows = _Rows()
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                _metric(rows, metric)
    return rows.columns()
