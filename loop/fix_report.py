"""What `cleanloop fix` leaves behind: report.md and summary.json, and the commit message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.verdict import format_value

if TYPE_CHECKING:
    from loop.driver import FixResult
    from loop.scenario import Scenario


def improvements(verdict: dict[str, Any]) -> list[str]:
    """One line per target: 'SLI 41.9ms -> 13.2ms (x0.29 [0.07, 0.70], p=0.0011)'."""
    lines = []
    for c in verdict.get("checks", []):
        if c.get("kind") != "relative" or c.get("role") != "target":
            continue
        e, unit = c["evidence"], c.get("unit", "")
        lo, hi = e["ci"]
        lines.append(f"{e['sli']}: {format_value(e['median_baseline'], unit)} -> "
                     f"{format_value(e['median_candidate'], unit)} (x{e['ratio']:.3f} "
                     f"[{lo if lo is None else f'{lo:.3f}'}, {hi if hi is None else f'{hi:.3f}'}]"
                     f", p={e['p_value']:.2g}, n={e['n_baseline']}+{e['n_candidate']})")
    return lines


def commit_message(scenario: str, verdict: dict[str, Any], iteration: int) -> str:
    better = improvements(verdict)
    checks = [c for c in verdict.get("checks", []) if c.get("kind") in ("absolute", "zero")]
    title = f"cleanloop: fix {scenario}"
    if better:
        title += " (" + better[0].split(" (")[0] + ")"
    body = [f"Accepted by cleanloop's gate on attempt {iteration}: {verdict.get('reason', '')}",
            ""]
    body += [f"- {line}" for line in better]
    body += [f"- {c['check']}: {format_value(c['value'], c.get('unit', ''))} "
             f"({'ok' if c['ok'] else 'FAIL'})" for c in checks]
    return title + "\n\n" + "\n".join(body).rstrip() + "\n"


def write_report(result: FixResult, scenario: Scenario, base_sha: str) -> Path:
    summary = {"outcome": result.outcome, "scenario": scenario.name, "base": base_sha,
               "branch": result.branch, "attempts": [a.as_dict() for a in result.attempts],
               "reproduction": {"verdict": result.reproduction.get("verdict"),
                                "run_dir": result.reproduction.get("artifacts", {})
                                .get("run_dir")}}
    (result.fix_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                                 encoding="utf-8")
    lines = [f"# cleanloop fix: {scenario.name}", "",
             f"- outcome: **{result.outcome}**", f"- base: `{base_sha}`"]
    if result.branch:
        lines.append(f"- branch: `{result.branch}`")
    lines += ["", "| attempt | outcome | reason | diff |", "|---|---|---|---|"]
    for a in result.attempts:
        reason = a.reason.replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {a.iteration} | {a.outcome} | {reason} | {a.diff_stat} |")
    path = result.fix_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def summary_lines(result: FixResult) -> list[str]:
    head = {"fixed": "FIXED", "not-reproduced": "NOT REPRODUCED", "exhausted": "NOT FIXED",
            "budget": "NOT FIXED (budget spent)", "interrupted": "INTERRUPTED",
            "error": "ERROR"}[result.outcome]
    lines = [f"{head}  {result.fix_dir}"]
    if result.outcome == "not-reproduced":
        lines.append("  the scenario's checks already pass on the base revision; "
                     "nothing to fix (evidence: "
                     f"{result.reproduction.get('artifacts', {}).get('run_dir')})")
    for a in result.attempts:
        lines.append(f"  attempt {a.iteration}: {a.outcome.upper():<12} {a.reason}")
        lines.append(f"      {a.diff_stat}")
    if result.branch:
        lines.append(f"  branch: {result.branch}")
    if result.report is not None:
        lines.append(f"  report: {result.report}")
    return lines
