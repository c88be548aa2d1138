"""The verdict of a run (verdict.json, stable keys) and its compact human summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanloop.loop.base.units import format_ms
from cleanloop.loop.model.evaluation import CheckResult
from cleanloop.loop.model.run_data import RunData


def step_failures(reps: list[RunData]) -> list[dict[str, Any]]:
    """Failed steps and crashes as failed check entries (kind zero: must never happen)."""
    out: list[dict[str, Any]] = []
    for rep in reps:
        for s in rep.steps:
            if not s.ok:
                out.append({"check": f"step #{s.index} ({s.name})", "kind": "zero", "role": "check",
                            "step": s.index,
                            "value": None, "threshold": None, "ok": False, "repeat": rep.repeat,
                            "note": s.message, "evidence": s.evidence})
        if rep.crashed:
            out.append({"check": "app.crashed == 0", "kind": "zero", "role": "check", "value": 1,
                        "threshold": 0, "ok": False, "repeat": rep.repeat,
                        "note": f"the app exited with code {rep.exit_code} during the run",
                        "evidence": {}})
    return out


def build_verdict(*, scenario: str, scenario_file: str, run_dir: Path, reps: list[RunData],
                  results: list[CheckResult], not_evaluated: list[str],
                  app_log_tail: str = "") -> dict[str, Any]:
    checks = [r.as_dict() for r in results] + step_failures(reps)
    ok = all(c["ok"] for c in checks)
    artifacts: dict[str, Any] = {
        "run_dir": str(run_dir), "app_log": str(run_dir / "app.log"),
        "tables": {n: str(run_dir / f"{n}.parquet") for n in ("spans", "logs", "metrics",
                                                                "browser")},
        "screenshots": sorted(str(p) for p in (run_dir / "screenshots").glob("*.png")),
        "dom": sorted(str(p) for p in (run_dir / "dom").glob("*")),
    }
    if not ok and app_log_tail:
        artifacts["app_log_tail"] = app_log_tail
    return {
        "verdict": "pass" if ok else "fail",
        "scenario": scenario,
        "scenario_file": scenario_file,
        "runs": [run_entry(r) for r in reps],
        "checks": checks,
        "not_evaluated": not_evaluated,
        "artifacts": artifacts,
    }


def format_value(value: Any, unit: str = "") -> str:
    if value is None:
        return "no data"
    if not isinstance(value, int | float):
        return str(value)
    return format_ms(float(value)) if unit == "ms" else f"{value:.4g}"


def summary_lines(verdict: dict[str, Any]) -> list[str]:
    """A compact, plain-text summary: each check, its value, its threshold, pass or fail."""
    n = len(verdict["runs"])
    lines = [f"{verdict['verdict'].upper()}  {verdict['scenario']}  ({n} run{'s' * (n != 1)}, "
             f"{verdict['artifacts']['run_dir']})"]
    for c in verdict["checks"]:
        mark = "✓" if c["ok"] else "✗"
        value = "failed" if "step" in c else format_value(c["value"], c.get("unit", ""))
        extra = ""
        if c.get("worst") is not None and n > 1 and c["kind"] == "absolute":
            extra = f" (worst {format_value(c['worst'], c.get('unit', ''))})"
        lines.append(f"  {mark} {c['check']:<58} {value}{extra}")
        if c.get("note"):
            lines.append(f"      {c['note']}")
        if not c["ok"]:
            lines += ["      " + s for s in _evidence_lines(c.get("evidence") or {})]
    for text in verdict.get("not_evaluated", []):
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


def run_entry(r: RunData) -> dict[str, Any]:
    """One run in verdict.json (of `run`, and of each side of a `verify`)."""
    return {"repeat": r.repeat, "startup_ms": r.startup_ms, "crashed": r.crashed,
            "exit_code": r.exit_code, "steps": [s.as_dict() for s in r.steps],
            "collectors": r.collector_stats, "rows_after_last_step": r.rows_after_last_step,
            "quiesce_ms": r.quiesce_ms, "quiesce_outcome": r.quiesce_outcome}
