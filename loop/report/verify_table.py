"""The per-SLI table of a verify, from its Verdict (cleanloop.loop.gate.verify_verdict): for
humans (`table_lines`) and as numbers (`table_rows`, the same values unformatted, for the MCP
verify tool and other machine readers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cleanloop.loop.model.verdict import format_value
from cleanloop.loop.model.verdict_types import Verdict


def _fmt(v: Any, unit: str) -> str:
    return "-" if v is None else format_value(v, unit)


def table_lines(verdict: Verdict) -> list[str]:
    """One row per SLI: n, medians with IQR, ratio with CI, p, threshold, classification."""
    base, cand = verdict.baseline, verdict.candidate
    if base is None or cand is None:
        raise ValueError("not the verdict of a verify: no baseline and candidate")
    lines = [f"{verdict.verdict.upper()}  {verdict.scenario}: {verdict.reason}",
             f"  baseline {base.commit[:12]} ({base.runs} runs)  candidate {cand.commit[:12]} "
             f"({cand.runs} runs)  {verdict.artifacts.run_dir}", ""]
    header = (f"  {'SLI':<44} {'role':<6} {'n':>5} {'baseline med [IQR]':>24} "
              f"{'candidate med [IQR]':>24} {'ratio [CI]':>22} {'p':>8} {'need':>7} "
              f"{'CV':>6} {'detects':>8}  result")
    lines.append(header)
    advice: list[str] = []
    for c in verdict.checks:
        if c.kind != "relative":
            continue
        e = c.evidence
        if e.get("advice"):
            advice.append(f"  {e['sli']}: {e['advice']}")
        unit = c.unit
        b = f"{_fmt(e['median_baseline'], unit)} [{_fmt(e['iqr_baseline'][0], unit)}-" \
            f"{_fmt(e['iqr_baseline'][1], unit)}]"
        k = f"{_fmt(e['median_candidate'], unit)} [{_fmt(e['iqr_candidate'][0], unit)}-" \
            f"{_fmt(e['iqr_candidate'][1], unit)}]"
        ratio = "-" if e["ratio"] is None else \
            f"{e['ratio']:.3f} [{_num(e['ci'][0])}, {_num(e['ci'][1])}]"
        p = "-" if e["p_value"] is None else f"{e['p_value']:.2g}"
        need = ("<=" if (c.role == "target") != e["higher_is_better"] else ">=") + \
            f"{e['threshold']:.2f}"
        cv, detects = _noise(e, c.role)
        lines.append(f"  {e['sli'][:44]:<44} {c.role:<6} {e['n_baseline']:>2}/"
                     f"{e['n_candidate']:<2} {b:>24} {k:>24} {ratio:>22} {p:>8} {need:>7} "
                     f"{cv:>6} {detects:>8}  {e['classification'].upper()}")
    gate = verdict.gate
    if gate is not None and gate.get("comparisons"):
        lines.append(f"  false-accept bound of every ratio item: {gate['alpha']:g} over all looks "
                     f"(alpha per look {gate['alpha_look']:.2g}); 'detects': the smallest "
                     "improvement a target accepts, or tolerance a guard proves, at this n "
                     "(80% power); 0/1 values and zero baselines are judged per run")
    lines += advice
    checks = [c for c in verdict.checks if c.kind != "relative"]
    if checks:
        lines += ["", "  checks on the candidate:"]
        for c in checks:
            mark = "✓" if c.ok else "✗"
            lines.append(f"  {mark} {c.check:<58} {_fmt(c.value, c.unit)}"
                         + (f"  (worst {_fmt(c.worst, c.unit)})" if c.worst is not None
                            else "") + (f"  {c.note}" if c.note else ""))
    return lines


def _noise(e: dict[str, Any], role: str) -> tuple[str, str]:
    """The CV column and the smallest decidable effect at this n ('per run' items: none)."""
    if e.get("judged") == "per_run":
        return "-", "per run"
    cv = "-" if e.get("cv") is None else f"{e['cv']:.0%}"
    d = e.get("detectable")
    if d is None:
        return cv, "-"
    if d == float("inf") or d >= 10:
        return cv, "none yet"
    return cv, (">=" if role == "target" else "<=") + f"{d:.0%}"


@dataclass(frozen=True)
class TableRow:
    """One row of a verify's table as numbers (None where it does not apply): a target or
    guard the gate compared (kind "relative"), or a check judged on the candidate alone."""

    check: str
    #: the compared SLI (relative rows); None for a check
    sli: str | None
    #: target | guard | check
    role: str
    #: relative | absolute | zero
    kind: str
    unit: str
    baseline_median: float | None
    baseline_iqr_low: float | None
    baseline_iqr_high: float | None
    candidate_median: float | None
    candidate_iqr_low: float | None
    candidate_iqr_high: float | None
    #: candidate / baseline (Hodges-Lehmann), with its interval
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    #: what must hold: `ratio op threshold` (relative), `value op threshold` (a check)
    op: str
    threshold: float | None
    #: the ratio (relative) or the candidate's value (a check)
    value: float | None
    #: a check's worst run
    worst: float | None
    runs_baseline: int | None
    runs_candidate: int | None
    #: run-to-run coefficient of variation, and the smallest effect decidable at this n
    cv: float | None
    detectable: float | None
    #: ratio | per_run (relative rows)
    judged: str | None
    runs_needed: int | None
    false_accept_bound: float | None
    ok: bool
    #: the gate's classification (improved, held, regressed, not_improved, inconclusive,
    #: unknown, missing) or, for a check, pass | fail
    result: str
    note: str
    advice: str


def table_rows(verdict: Verdict) -> list[TableRow]:
    """The rows of `table_lines` as numbers: targets and guards first, then the checks on
    the candidate."""
    if verdict.baseline is None or verdict.candidate is None:
        raise ValueError("not the verdict of a verify: no baseline and candidate")
    rel = [_relative_row(c.check, c.role, c.unit, c.ok, c.evidence)
           for c in verdict.checks if c.kind == "relative"]
    checks = [TableRow(
        check=c.check, sli=None, role=c.role, kind=c.kind, unit=c.unit, baseline_median=None,
        baseline_iqr_low=None, baseline_iqr_high=None, candidate_median=None,
        candidate_iqr_low=None, candidate_iqr_high=None, ratio=None, ci_low=None, ci_high=None,
        p_value=None, op=c.op, threshold=_float(c.threshold), value=_float(c.value),
        worst=_float(c.worst), runs_baseline=None,
        runs_candidate=len(c.values) if c.values else None, cv=None, detectable=None,
        judged=None, runs_needed=None, false_accept_bound=None, ok=c.ok,
        result="pass" if c.ok else "fail", note=c.note, advice="")
        for c in verdict.checks if c.kind != "relative"]
    return rel + checks


def _relative_row(check: str, role: str, unit: str, ok: bool, e: dict[str, Any]) -> TableRow:
    iqr_b = _pair(e.get("iqr_baseline"))
    iqr_c = _pair(e.get("iqr_candidate"))
    ci = _pair(e.get("ci"))
    higher = bool(e.get("higher_is_better"))
    return TableRow(
        check=check, sli=str(e.get("sli", check)), role=role, kind="relative", unit=unit,
        baseline_median=_float(e.get("median_baseline")), baseline_iqr_low=iqr_b[0],
        baseline_iqr_high=iqr_b[1], candidate_median=_float(e.get("median_candidate")),
        candidate_iqr_low=iqr_c[0], candidate_iqr_high=iqr_c[1],
        ratio=_float(e.get("ratio")), ci_low=ci[0], ci_high=ci[1],
        p_value=_float(e.get("p_value")), op="<=" if (role == "target") != higher else ">=",
        threshold=_float(e.get("threshold")), value=_float(e.get("ratio")), worst=None,
        runs_baseline=_int(e.get("n_baseline")), runs_candidate=_int(e.get("n_candidate")),
        cv=_float(e.get("cv")), detectable=_float(e.get("detectable")),
        judged=None if e.get("judged") is None else str(e["judged"]),
        runs_needed=_int(e.get("runs_needed")),
        false_accept_bound=_float(e.get("false_accept_bound")), ok=ok,
        result=str(e.get("classification", "")), note=str(e.get("reason") or ""),
        advice=str(e.get("advice") or ""))


def _float(v: Any) -> float | None:
    """A finite number as a float; None for anything else (no data, inf, NaN, text)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _int(v: Any) -> int | None:
    return None if isinstance(v, bool) or not isinstance(v, int | float) else int(v)


def _pair(v: Any) -> tuple[float | None, float | None]:
    if isinstance(v, list | tuple) and len(v) == 2:
        return _float(v[0]), _float(v[1])
    return None, None


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"

