"""The gate's data: what goes in (one item's per-run values), what comes out (a
classification with its evidence per item, and the decision of one look).

Pure data with JSON forms (`as_dict`: NaN and inf become null); cleanloop.loop.gate.rules decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

Role = Literal["target", "guard"]
Outcome = Literal["accept", "reject", "inconclusive", "continue"]


class Classification(StrEnum):
    IMPROVED = "improved"
    NOT_IMPROVED = "not_improved"
    UNKNOWN = "unknown"
    INCONCLUSIVE = "inconclusive"
    REGRESSED = "regressed"
    HELD = "held"
    MISSING = "missing"


PASSING = frozenset({Classification.IMPROVED, Classification.HELD})
FAILING = frozenset(
    {Classification.NOT_IMPROVED, Classification.REGRESSED, Classification.MISSING}
)


@dataclass(frozen=True)
class GateInput:
    """One target or guard: one value per run on each side. `required` is a fraction."""

    sli: str
    source: str
    role: Role
    required: float
    baseline: Sequence[float]
    candidate: Sequence[float]
    higher_is_better: bool = False
    #: a 0/1 SLI: judged run by run, never by a ratio
    per_run: bool = False


@dataclass(frozen=True)
class Comparison:
    """The evidence and classification of one item at one look."""

    sli: str
    source: str
    role: Role
    classification: Classification
    n_baseline: int
    n_candidate: int
    median_baseline: float
    median_candidate: float
    iqr_baseline: tuple[float, float]
    iqr_candidate: tuple[float, float]
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha_look: float
    threshold: float
    ok: bool
    reason: str
    higher_is_better: bool = False
    n_dropped_baseline: int = 0
    n_dropped_candidate: int = 0
    look_index: int = 0
    #: "ratio" (rank test and interval) or "per_run" (0/1 SLI or zero baseline)
    judged: str = "ratio"
    #: pooled run-to-run CV of both sides (NaN for per-run items or too few runs)
    cv: float = math.nan
    #: the smallest effect this item could decide at its n with 80 % power: for a guard the
    #: tolerance it could prove if nothing changed, for a target the true improvement it
    #: would accept (NaN when unknown, inf when no interval is possible yet)
    detectable: float = math.nan
    #: runs per side to decide it with 80 % power at the measured CV (None: per run / unknown)
    runs_needed: int | None = None
    #: the chance that this item passes although it should not (the plan's alpha for ratio
    #: items: a false IMPROVED or HELD over all looks; None for items judged per run)
    false_accept_bound: float | None = None
    #: for an undecided item: the runs or the tolerance it would need
    advice: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sli": self.sli, "source": self.source, "role": self.role,
            "classification": self.classification.value, "ok": self.ok,
            "n_baseline": self.n_baseline, "n_candidate": self.n_candidate,
            "n_dropped_baseline": self.n_dropped_baseline,
            "n_dropped_candidate": self.n_dropped_candidate,
            "median_baseline": num(self.median_baseline),
            "median_candidate": num(self.median_candidate),
            "iqr_baseline": [num(v) for v in self.iqr_baseline],
            "iqr_candidate": [num(v) for v in self.iqr_candidate],
            "ratio": num(self.ratio), "ci": [num(self.ci_low), num(self.ci_high)],
            "p_value": num(self.p_value), "alpha_look": num(self.alpha_look),
            "threshold": num(self.threshold), "higher_is_better": self.higher_is_better,
            "look": self.look_index, "reason": self.reason, "judged": self.judged,
            "cv": num(self.cv), "detectable": num(self.detectable),
            "runs_needed": self.runs_needed,
            "false_accept_bound": None if self.false_accept_bound is None
            else num(self.false_accept_bound), "advice": self.advice,
        }


@dataclass(frozen=True)
class GateDecision:
    outcome: Outcome
    look_index: int
    final: bool
    alpha: float
    alpha_look: float
    comparisons: tuple[Comparison, ...]
    reason: str

    @property
    def accepted(self) -> bool:
        return self.outcome == "accept"

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "look": self.look_index, "final": self.final,
            "alpha": self.alpha, "alpha_look": num(self.alpha_look), "reason": self.reason,
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def num(x: float) -> float | None:
    """JSON-friendly: 6 significant digits, NaN/inf -> None."""
    return float(f"{x:.6g}") if math.isfinite(x) else None
