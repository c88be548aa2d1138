"""Documented columns of the run tables (the run-directory contract).

Timestamps are UTC nanoseconds (int64). Attributes are JSON strings.
Every collector emits column batches whose keys are a subset of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# Column specs as (name, arrow type name); the pyarrow schemas are built on first use
# (module __getattr__ below) so that importing the collectors stays cheap.
_SPECS: dict[str, list[tuple[str, str]]] = {}
_SPECS["spans"] = [
    ("trace_id", "string"),        # 32 hex chars
    ("span_id", "string"),         # 16 hex chars
    ("parent_span_id", "string"),  # "" for a root span
    ("name", "string"),
    ("kind", "string"),            # SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER, UNSPECIFIED
    ("service", "string"),         # resource service.name
    ("start_ns", "int64"),
    ("end_ns", "int64"),
    ("duration_ms", "float64"),
    ("status", "string"),          # UNSET, OK, ERROR
    ("status_message", "string"),
    ("attributes", "string"),      # JSON object
    ("events", "string"),          # JSON list of {name, ts_ns, attributes}
    ("repeat", "int32"),           # which repetition of the scenario (0-based)
]

_SPECS["logs"] = [
    ("ts_ns", "int64"),
    ("source", "string"),          # otlp | stdout | stderr
    ("level", "string"),           # trace, debug, info, warning, error, critical
    ("severity_number", "int32"),  # OTLP severity number (1..24), 0 when unknown
    ("message", "string"),
    ("trace_id", "string"),        # "" when unknown
    ("span_id", "string"),
    ("service", "string"),
    ("attributes", "string"),      # JSON object
    ("repeat", "int32"),
]

_SPECS["metrics"] = [
    ("ts_ns", "int64"),
    ("source", "string"),          # otlp | prometheus
    ("name", "string"),            # metric family name, e.g. http_request_duration_seconds
    ("sample", "string"),          # sample name, e.g. ..._bucket, ..._sum, ..._count, or = name
    ("type", "string"),            # counter, gauge, histogram, summary, unknown
    ("labels", "string"),          # JSON object (without "le")
    ("le", "float64"),             # histogram bucket upper bound (cumulative); NaN otherwise
    ("value", "float64"),
    ("repeat", "int32"),
]

_SPECS["browser"] = [
    ("ts_ns", "int64"),
    ("kind", "string"),            # console, pageerror, request, requestfailed, vital,
                                      # navigation, cdp_metrics, step
    ("level", "string"),           # console level (error, warning, info, log, debug)
    ("text", "string"),            # console text / error message / step name
    ("url", "string"),
    ("method", "string"),
    ("status", "int32"),
    ("duration_ms", "float64"),
    ("size", "int64"),
    ("name", "string"),            # vital or metric name (LCP, CLS, FCP, JSHeapUsedSize ...)
    ("value", "float64"),
    ("location", "string"),        # source "url:line:col"
    ("stack", "string"),
    ("trace_id", "string"),        # joined with spans.trace_id via injected traceparent
    ("step", "int32"),             # index of the scenario step that produced it
    ("attributes", "string"),      # JSON object
    ("repeat", "int32"),
]

#: the run tables, in file order: spans, logs, metrics, browser (the run-directory contract)
TABLE_NAMES: tuple[str, ...] = tuple(_SPECS)

_BUILT: dict[str, Any] = {}


def column_names(table: str) -> tuple[str, ...]:
    """A table's column names, without building the pyarrow schemas (cheap to import)."""
    return tuple(col for col, _ in _SPECS[table])


def _build() -> dict[str, pa.Schema]:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "int32": pa.int32(),
             "float64": pa.float64()}
    return {name: pa.schema([(col, types[t]) for col, t in cols])
            for name, cols in _SPECS.items()}


def __getattr__(name: str) -> Any:
    """SPANS, LOGS, METRICS, BROWSER (pyarrow schemas) and TABLES (name -> schema)."""
    if name in ("SPANS", "LOGS", "METRICS", "BROWSER", "TABLES"):
        if not _BUILT:
            tables = _build()
            _BUILT.update({k.upper(): v for k, v in tables.items()}, TABLES=tables)
        return _BUILT[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    SPANS: pa.Schema
    LOGS: pa.Schema
    METRICS: pa.Schema
    BROWSER: pa.Schema
    TABLES: dict[str, pa.Schema]

LEVELS = ("trace", "debug", "info", "warning", "error", "critical")
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}


def level_from_severity(number: int) -> str:
    """OTLP severity number (1..24) to a level name."""
    if number <= 0:
        return "info"
    return LEVELS[min((number - 1) // 4, 5)]


def normalise_level(text: str) -> str:
    """Map a free-form level word (WARN, err, FATAL ...) to one of LEVELS."""
    t = text.strip().lower()
    if t.startswith("warn"):
        return "warning"
    if t in ("err", "error", "severe"):
        return "error"
    if t in ("fatal", "critical", "crit", "panic", "emerg", "alert"):
        return "critical"
    if t in ("debug", "trace", "info"):
        return t
    if t in ("notice", "information"):
        return "info"
    return "info"


#: A table in column form: column name -> list of values (all lists equally long).
Columns = dict[str, list[Any]]


def append_columns(into: Columns, batch: Mapping[str, list[Any]]) -> None:
    """Append a column batch to an accumulated table (columns created on first sight)."""
    n_before = len(next(iter(into.values()))) if into else 0
    for name, values in batch.items():
        col = into.get(name)
        if col is None:
            col = into[name] = [None] * n_before
        col.extend(values)
    n_after = n_before + (len(next(iter(batch.values()))) if batch else 0)
    for col in into.values():
        if len(col) < n_after:
            col.extend([None] * (n_after - len(col)))


def arrow_table(name: str, cols: Mapping[str, list[Any]]) -> pa.Table:
    """Columns as an Arrow table with the documented schema (missing columns are null)."""
    import pyarrow as pa

    table_schema = __getattr__("TABLES")[name]   # built lazily on first use
    n = max((len(v) for v in cols.values()), default=0)
    arrays = [pa.array(cols.get(f.name, [None] * n), type=f.type) for f in table_schema]
    return pa.Table.from_arrays(arrays, schema=table_schema)
