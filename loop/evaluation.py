"""Turn per-repetition SLI values into check results (absolute and zero-count).

An absolute bound is judged on the median over repetitions (the worst run is
shown too); a zero-count check must hold in every repetition; missing data never
passes. Targets and guards need a baseline: `run` lists them as not evaluated,
`verify` hands them to the gate.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from loop.checks import Check, SliRef
from loop.evidence import evidence_for
from loop.sli import RunData, SliRegistry


@dataclass
class CheckResult:
    check: Check
    values: list[float | None]
    value: float | None
    ok: bool
    worst: float | None = None
    note: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        c = self.check
        return {"check": c.text, "kind": c.kind, "role": c.role, "value": _round(self.value),
                "threshold": c.threshold, "op": c.op, "ok": self.ok, "worst": _round(self.worst),
                "values": [_round(v) for v in self.values], "note": self.note,
                "line": c.line, "unit": sli_unit(c.sli), "evidence": self.evidence}


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


def evaluate_check(registry: SliRegistry, check: Check, runs: list[RunData]) -> CheckResult:
    values = sli_values(registry, check, runs)
    present = [v for v in values if v is not None]
    if not present or len(present) < len(values):
        missing = len(values) - len(present)
        res = CheckResult(check, values, statistics.median(present) if present else None, False,
                          note=f"no data in {missing} of {len(values)} run(s)")
    elif check.kind == "zero":
        bad = [v for v in present if not check.holds(v)]
        res = CheckResult(check, values, max(present, key=abs), not bad,
                          worst=max(present, key=abs),
                          note=f"non-zero in {len(bad)} of {len(present)} run(s)" if bad else "")
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
