"""What `cleanloop fix` leaves behind: report.md and summary.json, and the commit message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from cleanloop.loop.model.verdict import format_value
from cleanloop.loop.model.verdict_types import CheckEntry, Verdict

if TYPE_CHECKING:
    from cleanloop.loop.fix.attempts import FixResult


def improvements(verdict: Verdict) -> list[str]:
    """One line per target: 'SLI 41.9ms -> 13.2ms (x0.29 [0.07, 0.70], p=0.0011)'."""
    lines = []
    for c in verdict.checks:
        if c.kind != "relative" or c.role != "target":
            continue
        e, unit = c.evidence, c.unit
        lo, hi = e["ci"]
        lines.append(f"{e['sli']}: {format_value(e['median_baseline'], unit)} -> "
                     f"{format_value(e['median_candidate'], unit)} (x{e['ratio']:.3f} "
                     f"[{lo if lo is None else f'{lo:.3f}'}, {hi if hi is None else f'{hi:.3f}'}]"
                     f", p={e['p_value']:.2g}, n={e['n_baseline']}+{e['n_candidate']})")
    return lines


def commit_message(scenario: str, verdict: Verdict, iteration: int,
                   reproduction: Verdict | None = None) -> str:
    """Title and body: what improved (targets), and each check from the base's reproduction
    to the accepted candidate ('console.errors == 0: 1 -> 0 (ok)')."""
    better = improvements(verdict)
    before = {c.check: c for c in (reproduction.checks if reproduction is not None else ())}
    checks = [c for c in verdict.checks if c.kind in ("absolute", "zero")]
    title = f"cleanloop: fix {scenario}"
    fixed = [c for c in checks if c.ok and c.check in before and not before[c.check].ok]
    if better:
        title += " (" + better[0].split(" (")[0] + ")"
    elif fixed:
        title += f" ({_from_to(fixed[0], before[fixed[0].check])})"
    body = [f"Accepted by cleanloop's gate on attempt {iteration}: {verdict.reason or ''}", ""]
    body += [f"- {line}" for line in better]
    body += [f"- {_from_to(c, before.get(c.check))} ({'ok' if c.ok else 'FAIL'})"
             for c in checks]
    shown = {c.check for c in checks}
    # a failed step of the reproduction (an expectation): the candidate passed every step
    body += [f"- {text}: failed on the base, passes on the candidate"
             for text, c in before.items() if text not in shown and not c.ok
             and text.startswith("step ")]
    return title + "\n\n" + "\n".join(body).rstrip() + "\n"


def _from_to(check: CheckEntry, base: CheckEntry | None) -> str:
    now = format_value(check.value, check.unit)
    if base is None:
        return f"{check.check}: {now}"
    return f"{check.check}: {format_value(base.value, base.unit)} -> {now}"


def write_report(result: FixResult) -> Path:
    """summary.json (FixResult.to_json) and report.md in the fix directory; report.md's path."""
    (result.fix_dir / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n",
                                                 encoding="utf-8")
    lines = [f"# cleanloop fix: {result.scenario}", "",
             f"- outcome: **{result.outcome}**", f"- base: `{result.base}`"]
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
        run_dir = result.reproduction.artifacts.run_dir if result.reproduction else None
        lines.append("  the scenario's checks already pass on the base revision; "
                     f"nothing to fix (evidence: {run_dir})")
    for a in result.attempts:
        lines.append(f"  attempt {a.iteration}: {a.outcome.upper():<12} {a.reason}")
        lines.append(f"      {a.diff_stat}")
    if result.branch:
        lines.append(f"  branch: {result.branch}")
    if result.report is not None:
        lines.append(f"  report: {result.report}")
    return lines
