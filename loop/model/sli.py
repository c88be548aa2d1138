"""SLI evaluation: one number per SLI per repetition, from the run's tables.

An SLI function takes the repetition's data and the parsed reference and returns
a float, or None when there is no data (which never passes a check). Roots are
registered in a `SliRegistry` by SLI sources (cleanloop.loop.model.sli_sources): telemetry
SLIs live in cleanloop.loop.model.sli_telemetry and browser SLIs in
cleanloop.loop.model.sli_browser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from cleanloop.loop.model.checks import Filter, SliRef
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.sli_grammar import PERCENTILES, ranked_value

SliFunction = Callable[[RunData, SliRef], float | None]


class SliRegistry:
    def __init__(self) -> None:
        self._roots: dict[str, SliFunction] = {}

    def add(self, root: str, fn: SliFunction) -> None:
        self._roots[root] = fn

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(sorted(self._roots))

    def evaluate(self, run: RunData, ref: SliRef) -> float | None:
        fn = self._roots.get(ref.root)
        if fn is None:
            raise ValueError(f"unknown SLI '{ref.root}' (known: {', '.join(self.roots)})")
        value = fn(run, ref)
        return None if value is None or pd.isna(value) else float(value)

    def validate(self, ref: SliRef) -> None:
        """Evaluate on empty data to surface grammar errors (unknown SLI, attribute or filter
        field) by evaluating: ValueError naming what is wrong. The scenario loader checks the
        same grammar without data or pandas (sli_grammar.validate_sli); a test holds the two
        to the same verdict and message over a corpus of references."""
        self.evaluate(RunData(repeat=0, tables={}), ref)


#: SLIs whose value is 0 or 1 in every run (root, last name): judged per run, never by a ratio
BINARY_SLIS = frozenset({("step", "ok"), ("step", "failed"), ("app", "crashed")})


def is_binary(ref: SliRef) -> bool:
    """A 0/1 SLI such as `step("x").ok` or `app.crashed`."""
    return bool(ref.path) and (ref.root, ref.path[-1]) in BINARY_SLIS


#: SLIs for which more is better (root, last name); every other SLI is better lower
HIGHER_IS_BETTER = frozenset({("step", "ok"), ("load", "rps")})


def higher_is_better(ref: SliRef) -> bool:
    """The direction of an explicit target or guard on this SLI."""
    return bool(ref.path) and (ref.root, ref.path[-1]) in HIGHER_IS_BETTER


# ---- shared helpers for SLI implementations -------------------------------------------

def aggregate(values: pd.Series, how: str) -> float | None:
    """Reduce a numeric series: count, sum, mean, min, max, pNN. None when empty."""
    if how == "count":
        return float(len(values))
    values = values.dropna()
    if how == "sum":
        return float(values.sum())
    if values.empty:
        return None
    if how in PERCENTILES:
        return float(values.quantile(PERCENTILES[how], interpolation="linear"))
    if how in ("mean", "avg"):
        return float(values.mean())
    if how == "min":
        return float(values.min())
    if how == "max":
        return float(values.max())
    raise ValueError(f"unknown aggregation '{how}' (use count, sum, mean, min, max, "
                     f"{', '.join(PERCENTILES)})")


def apply_filter(df: pd.DataFrame, flt: Filter, column: pd.Series,
                 rank: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Keep the rows of df where `column` (aligned with df) satisfies the filter."""
    op, value = flt.op, flt.value
    if op == "~":
        mask = column.astype(str).str.contains(str(value), regex=True, na=False)
        return df[mask]
    if rank is not None and isinstance(value, str):
        value = ranked_value(flt, rank)
        column = column.map(lambda v: rank.get(str(v), -1))
    elif isinstance(value, float):
        column = pd.to_numeric(column, errors="coerce")
    else:
        column = column.astype(str)
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return df[ops[op](column, value).fillna(False).astype(bool)]
