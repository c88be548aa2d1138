"""Turn per-repetition SLI values into check results (absolute and zero-count).

An absolute bound is judged on the median over repetitions (the worst run is
shown too); a zero-count check, and any check of a 0/1 SLI (`step(..).ok`, `app.crashed`),
must hold in every repetition; missing data never
passes, zero-count checks included: an SLI with no data (None: a span filter that
matched no span, a run that received no spans or has no browser data) fails with
"no data in k of n run(s)" and, where it is known, why. Targets and guards need a
baseline: `run` lists them as not evaluated, `verify` hands them to the gate.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from cleanloop.loop.model.checks import Check, SliRef
from cleanloop.loop.model.evidence import evidence_for
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.sli import SliRegistry, is_binary
from cleanloop.loop.model.verdict_types import CheckEntry


@dataclass
class CheckResult:
    check: Check
    values: list[float | None]
    value: float | None
    ok: bool
    worst: float | None = None
    note: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> CheckEntry:
        """This result as a row of the verdict's checks (values rounded as written)."""
        c = self.check
        return CheckEntry("check", c.text, c.kind, c.role, _round(self.value), c.threshold,
                          self.ok, self.evidence, op=c.op, worst=_round(self.worst),
                          values=tuple(_round(v) for v in self.values), note=self.note,
                          line=c.line, unit=sli_unit(c.sli))


_DURATION_AGGS = {"p50", "p75", "p90", "p95", "p99", "median", "mean", "min", "max", "sum"}


def sli_unit(ref: SliRef) -> str:
    """'ms' for SLIs measured in milliseconds, '' otherwise (counts, ratios, metric values)."""
    last = ref.path[-1] if ref.path else ""
    if ref.root in ("span", "spans", "load", "request"):
        return "ms" if last in _DURATION_AGGS else ""
    if ref.root == "app":
        return "ms" if last == "startup" else ""
    if ref.root == "step":
        return "ms" if last == "duration" else ""
    if ref.root == "vitals":
        return "" if last == "cls" else "ms"
    return ""


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def sli_values(registry: SliRegistry, check: Check, runs: list[RunData]) -> list[float | None]:
    return [registry.evaluate(run, check.sli) for run in runs]


def no_data_note(ref: SliRef, runs: list[RunData], values: list[float | None]) -> str:
    """The "no data in k of n run(s)" note, with the reason when the tables tell it."""
    missing = [run for run, v in zip(runs, values, strict=True) if v is None]
    note = f"no data in {len(missing)} of {len(values)} run(s)"
    if ref.root in ("span", "spans"):
        if all(run.frame("spans").empty for run in missing):
            return note + ": no span was received (is the app's tracing on and exporting?)"
        selection = ref.text[: ref.text.rfind(")") + 1] or ref.root
        return note + f": no span matched {selection}"
    if ref.root in ("console", "page", "requests", "request") and all(
            run.frame("browser").empty for run in missing):
        return note + ": the run has no browser data (did a browser step run?)"
    return note


def evaluate_check(registry: SliRegistry, check: Check, runs: list[RunData]) -> CheckResult:
    values = sli_values(registry, check, runs)
    present = [v for v in values if v is not None]
    if not present or len(present) < len(values):
        res = CheckResult(check, values, statistics.median(present) if present else None, False,
                          note=no_data_note(check.sli, runs, values))
    elif check.kind == "zero":
        bad = [v for v in present if not check.holds(v)]
        res = CheckResult(check, values, max(present, key=abs), not bad,
                          worst=max(present, key=abs),
                          note=f"non-zero in {len(bad)} of {len(present)} run(s)" if bad else "")
    elif is_binary(check.sli):
        # a 0/1 value (step ok, app crashed) must hold in every run, like a zero-count check
        bad = [v for v in present if not check.holds(v)]
        worst = bad[0] if bad else present[0]
        res = CheckResult(check, values, worst, not bad, worst=worst,
                          note=f"fails in {len(bad)} of {len(present)} run(s)" if bad else "")
    else:
        median = statistics.median(present)
        lower_is_better = check.op in ("<", "<=")
        worst = max(present) if lower_is_better else min(present)
        res = CheckResult(check, values, median, check.holds(median), worst=worst)
    if not res.ok:
        res.evidence = evidence_for(check.sli, runs)
    return res


def evaluate_checks(registry: SliRegistry, checks: tuple[Check, ...],
                    runs: list[RunData]) -> list[CheckResult]:
    return [evaluate_check(registry, c, runs) for c in checks]
