"""The verdict of a verify (verdict.json) and its per-SLI table for humans."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loop.checks import parse_sli
from loop.evaluation import CheckResult, sli_unit
from loop.gate import GateDecision
from loop.verdict import format_value, step_failures

if TYPE_CHECKING:
    from loop.scenario import Scenario
    from loop.verify import Side


def build_verify_verdict(scenario: Scenario, sides: list[Side], decision: GateDecision | None,
                         checks: list[CheckResult], outcome: str, reason: str) -> dict[str, Any]:
    base, cand = sides
    entries = [c.as_dict() for c in checks] + step_failures(cand.reps)
    if decision is not None:
        for comp in decision.comparisons:
            d = comp.as_dict()
            entries.append({"check": comp.source, "kind": "relative", "role": comp.role,
                            "value": d["ratio"], "threshold": d["threshold"], "ok": comp.ok,
                            "unit": sli_unit(parse_sli(comp.sli)),
                            "classification": d["classification"], "evidence": d})
    return {
        "verdict": outcome, "reason": reason, "scenario": scenario.name,
        "scenario_file": scenario.path,
        "baseline": {"commit": base.worktree.commit, "runs": len(base.runs)},
        "candidate": {"commit": cand.worktree.commit, "runs": len(cand.runs)},
        "runs": [{"side": s.label, "repeat": r.repeat, "startup_ms": r.startup_ms,
                  "crashed": r.crashed, "steps": [st.as_dict() for st in r.steps]}
                 for s in sides for r in s.reps],
        "checks": entries,
        "gate": decision.as_dict() if decision is not None else None,
        "artifacts": {"run_dir": str(base.store.dir.parent),
                      "baseline": str(base.store.dir), "candidate": str(cand.store.dir)},
    }


def _fmt(v: Any, unit: str) -> str:
    return "-" if v is None else format_value(v, unit)


def table_lines(verdict: dict[str, Any]) -> list[str]:
    """One row per SLI: n, medians with IQR, ratio with CI, p, threshold, classification."""
    lines = [f"{verdict['verdict'].upper()}  {verdict['scenario']}: {verdict['reason']}",
             f"  baseline {verdict['baseline']['commit'][:12]} ({verdict['baseline']['runs']} "
             f"runs)  candidate {verdict['candidate']['commit'][:12]} "
             f"({verdict['candidate']['runs']} runs)  {verdict['artifacts']['run_dir']}", ""]
    header = (f"  {'SLI':<44} {'role':<6} {'n':>5} {'baseline med [IQR]':>24} "
              f"{'candidate med [IQR]':>24} {'ratio [CI]':>22} {'p':>8} {'need':>7}  result")
    lines.append(header)
    for c in verdict["checks"]:
        if c["kind"] != "relative":
            continue
        e = c["evidence"]
        unit = c.get("unit", "")
        b = f"{_fmt(e['median_baseline'], unit)} [{_fmt(e['iqr_baseline'][0], unit)}-" \
            f"{_fmt(e['iqr_baseline'][1], unit)}]"
        k = f"{_fmt(e['median_candidate'], unit)} [{_fmt(e['iqr_candidate'][0], unit)}-" \
            f"{_fmt(e['iqr_candidate'][1], unit)}]"
        ratio = "-" if e["ratio"] is None else \
            f"{e['ratio']:.3f} [{_num(e['ci'][0])}, {_num(e['ci'][1])}]"
        p = "-" if e["p_value"] is None else f"{e['p_value']:.2g}"
        need = ("<=" if (c["role"] == "target") != e["higher_is_better"] else ">=") + \
            f"{e['threshold']:.2f}"
        lines.append(f"  {e['sli'][:44]:<44} {c['role']:<6} {e['n_baseline']:>2}/"
                     f"{e['n_candidate']:<2} {b:>24} {k:>24} {ratio:>22} {p:>8} {need:>7}  "
                     f"{e['classification'].upper()}")
    checks = [c for c in verdict["checks"] if c["kind"] != "relative"]
    if checks:
        lines += ["", "  checks on the candidate:"]
        for c in checks:
            mark = "✓" if c["ok"] else "✗"
            unit = c.get("unit", "")
            lines.append(f"  {mark} {c['check']:<58} {_fmt(c['value'], unit)}"
                         + (f"  (worst {_fmt(c.get('worst'), unit)})" if c.get("worst") is not None
                            else "") + (f"  {c['note']}" if c.get("note") else ""))
    return lines


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"

