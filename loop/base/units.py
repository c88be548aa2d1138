"""Parsing of durations, sizes and percentages written by users ("30s", "250ms", "10%")."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
               "min": 60.0, "h": 3600.0}


def parse_duration_s(value: object, *, default_unit: str = "s") -> float:
    """'30s' -> 30.0, '250ms' -> 0.25, 5 -> 5.0 (in `default_unit`). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s' or '250ms', got {value!r}")
    if isinstance(value, int | float):
        return float(value) * _TO_SECONDS[default_unit]
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '30s' or '250ms', got {value!r}")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"expected a duration like '30s' or '250ms', got {value!r}")
    return float(m.group(1)) * _TO_SECONDS[m.group(2) or default_unit]


def format_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:.1f}s"
    if ms >= 100:
        return f"{ms:.0f}ms"
    return f"{ms:.2f}ms" if ms < 10 else f"{ms:.1f}ms"
