"""The verdict of a run: built once from the repetitions and check results (a Verdict, written
as verdict.json with stable keys), and its compact human summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanloop.loop.base.schema import TABLE_NAMES
from cleanloop.loop.base.units import format_ms
from cleanloop.loop.model.evaluation import CheckResult
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.verdict_types import Artifacts, CheckEntry, RunEntry, Verdict


def step_failures(reps: list[RunData]) -> list[CheckEntry]:
    """Failed steps and crashes as failed check entries (kind zero: must never happen)."""
    out: list[CheckEntry] = []
    for rep in reps:
        for s in rep.steps:
            if not s.ok:
                out.append(CheckEntry("step", f"step #{s.index} ({s.name})", "zero", "check",
                                      None, None, False, s.evidence, note=s.message,
                                      step=s.index, repeat=rep.repeat))
        if rep.crashed:
            out.append(CheckEntry("crash", "app.crashed == 0", "zero", "check", 1, 0, False,
                                  {}, repeat=rep.repeat,
                                  note=f"the app exited with code {rep.exit_code} during the run"))
    return out


def build_verdict(*, scenario: str, scenario_file: str, run_dir: Path, reps: list[RunData],
                  results: list[CheckResult], not_evaluated: list[str],
                  app_log_tail: str = "") -> Verdict:
    checks = [r.entry() for r in results] + step_failures(reps)
    ok = all(c.ok for c in checks)
    artifacts = Artifacts(
        run_dir=str(run_dir), app_log=str(run_dir / "app.log"),
        tables={n: str(run_dir / f"{n}.parquet") for n in TABLE_NAMES},
        screenshots=sorted(str(p) for p in (run_dir / "screenshots").glob("*.png")),
        dom=sorted(str(p) for p in (run_dir / "dom").glob("*")),
        app_log_tail=app_log_tail if not ok and app_log_tail else None)
    return Verdict(verdict="pass" if ok else "fail", scenario=scenario,
                   scenario_file=scenario_file, runs=tuple(run_entry(r) for r in reps),
                   checks=tuple(checks), not_evaluated=tuple(not_evaluated),
                   artifacts=artifacts)


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "no data"
    if not isinstance(value, int | float):
        return str(value)
    return format_ms(float(value)) if unit == "ms" else f"{value:.4g}"


def summary_lines(verdict: Verdict) -> list[str]:
    """A compact, plain-text summary: each check, its value, its threshold, pass or fail."""
    n = len(verdict.runs)
    lines = [f"{verdict.verdict.upper()}  {verdict.scenario}  ({n} run{'s' * (n != 1)}, "
             f"{verdict.artifacts.run_dir})"]
    for c in verdict.checks:
        mark = "✓" if c.ok else "✗"
        value = "failed" if c.step is not None else format_value(c.value, c.unit)
        extra = ""
        if c.worst is not None and n > 1 and c.kind == "absolute":
            extra = f" (worst {format_value(c.worst, c.unit)})"
        lines.append(f"  {mark} {c.check:<58} {value}{extra}")
        if c.note:
            lines.append(f"      {c.note}")
        if not c.ok:
            lines += ["      " + s for s in _evidence_lines(c.evidence)]
    for text in verdict.not_evaluated or ():
        lines.append(f"  · {text:<58} needs a baseline: use `cleanloop verify`")
    return lines


def _evidence_lines(ev: dict[str, Any]) -> list[str]:
    out = []
    for s in ev.get("slowest", [])[:3]:
        out.append(f"slow span {s['name']} {format_ms(s['duration_ms'])} trace {s['trace_id']}")
    for t in ev.get("top", [])[:3]:
        tid = f" trace {t['trace_id']}" if t.get("trace_id") else ""
        out.append(f"{t['count']}× [{t['level']}] {t['message']}{tid}")
    for e in ev.get("console_errors", [])[:3]:
        out.append(f"console error: {e['text']} at {e['location']}")
    for e in [] if ev.get("console_errors") else ev.get("page_errors", [])[:3]:
        out.append(f"page error: {e['text']} at {e['location']}")
    for r in ev.get("failed_requests", [])[:3]:
        chain = [r.get("step") or "", f"{r['method']} {r['url']} {r['status'] or r['failure']}",
                 r.get("backend") or (f"trace {r['trace_id']}" if r.get("trace_id") else "")]
        out.append("failed request: " + " → ".join(part for part in chain if part))
    for key in ("screenshot", "dom", "aria"):
        if key in ev:
            out.append(f"{key}: {ev[key]}")
    if "startup_ms" in ev:
        out.append("startup per run: " + ", ".join(
            "-" if v is None else format_ms(v) for v in ev["startup_ms"]))
    return out


def run_entry(r: RunData, side: str | None = None) -> RunEntry:
    """One run in the verdict (of `run`, and of each side of a `verify`)."""
    return RunEntry(repeat=r.repeat, startup_ms=r.startup_ms, crashed=r.crashed,
                    exit_code=r.exit_code, steps=tuple(r.steps), collectors=r.collector_stats,
                    rows_after_last_step=r.rows_after_last_step, quiesce_ms=r.quiesce_ms,
                    quiesce_outcome=r.quiesce_outcome, side=side)
