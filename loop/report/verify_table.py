"""The per-SLI table of a verify for humans, from its Verdict
(cleanloop.loop.gate.verify_verdict)."""

from __future__ import annotations

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


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"

