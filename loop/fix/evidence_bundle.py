"""The evidence bundle an agent gets: prompt.md plus evidence/ files, all redacted.

    <out_dir>/prompt.md                 the budgeted prompt (cleanloop.loop.fix.prompt)
    <out_dir>/evidence/
        failing_checks.json             the failing check entries of the run verdict
        error_logs.md                   error log lines, grouped, with trace ids
        slow_spans.md                   slowest spans with their parent span, per-name p95
        console.md                      console errors and page errors, locations and stacks
        failed_requests.md              browser requests >= 400 or failed, server spans >= 400
        screenshots/ dom/               copies of the failure screenshots and DOM/aria snapshots
        app.log.tail                    the last 200 lines of the app's log
        scenario.yaml                   the scenario text
        gate.md, attempts.md            after a rejected attempt

Tables are read from the run directory's parquet files; a missing or unreadable table
counts as empty, and an empty section says "none". What counts as a slow span, an error log,
a console error or a failed request is cleanloop.loop.model.evidence's. Every text written goes
through the redactor (screenshots are copied as they are). Telemetry is fenced
(cleanloop.loop.fix.prompt.fence).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from cleanloop.loop.base.redact import Redactor
from cleanloop.loop.fix.prompt import (
    Excerpt,
    PromptContext,
    attempt_line,
    clip,
    fence,
    render_prompt,
)
from cleanloop.loop.model.evidence import (
    console_groups,
    error_logs,
    failed_requests,
    log_groups,
    slowest_spans,
    span_stats,
)
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.verdict_types import CheckEntry, Verdict
from cleanloop.loop.report.verify_table import table_lines

logger = logging.getLogger(__name__)

EVIDENCE = "evidence"
TOP_N = 20
EXCERPT_N = 3
TAIL_LINES = 200
MAX_TEXT = 2000
MAX_SNAPSHOTS = 6


def read_table(run_dir: Path | None, name: str) -> pd.DataFrame:
    """A run table as a DataFrame; empty when missing or unreadable."""
    if run_dir is None or not (run_dir / f"{name}.parquet").exists():
        return pd.DataFrame()
    try:
        return pd.read_parquet(run_dir / f"{name}.parquet")
    except (OSError, ValueError, pa.ArrowException) as exc:
        logger.warning("cannot read %s/%s.parquet: %s", run_dir, name, exc)
        return pd.DataFrame()


def _s(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _long(text: object) -> str:
    s = _s(text)
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


class _Writer:
    def __init__(self, directory: Path, redactor: Redactor) -> None:
        self.dir = directory
        self.redactor = redactor
        directory.mkdir(parents=True, exist_ok=True)

    def text(self, name: str, text: str) -> str:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.redactor.redact(text), encoding="utf-8")
        return f"{EVIDENCE}/{name}"

    def doc(self, name: str, title: str, intro: str, entries: list[str], sep: str = "\n\n") -> str:
        body = fence(sep.join(entries)) if entries else "none"
        return self.text(name, f"# {title}\n\n{intro}\n\n{body}\n")


def _error_logs(w: _Writer, logs: pd.DataFrame) -> tuple[Excerpt, str]:
    name, title = "error_logs.md", "Error logs"
    df = error_logs(logs)
    if df.empty:
        return Excerpt(title, w.doc(name, title, "logs.parquet, level >= error", []), (), 0), ""
    rows = [(r.level, r.message, int(r.count), _s(r.trace_id))
            for r in log_groups(df).itertuples()]
    entries = [f"{n}× [{lvl}]" + (f" trace {tid}" if tid else "") + f"\n{_long(msg)}"
               for lvl, msg, n, tid in rows[:TOP_N]]
    intro = (f"logs.parquet, level >= error: {len(rows)} distinct messages, {len(df)} lines "
             "(a line seen both via OTLP and stdout counts once).")
    lines = tuple(f"{n}× [{lvl}] {clip(msg)}" + (f" trace {tid}" if tid else "")
                  for lvl, msg, n, tid in rows[:EXCERPT_N])
    first_trace = next((tid for *_, tid in rows if tid), "")
    return Excerpt(title, w.doc(name, title, intro, entries), lines, len(rows)), first_trace


def _slow_spans(w: _Writer, spans: pd.DataFrame) -> Excerpt:
    name, title = "slow_spans.md", "Slow spans"
    if spans.empty or "duration_ms" not in spans:
        return Excerpt(title, w.doc(name, title, "spans.parquet", []), (), 0)
    names = {(t, s): n for t, s, n in zip(spans["trace_id"], spans["span_id"], spans["name"],
                                          strict=True)}
    slow = slowest_spans(spans, TOP_N)
    entries, lines = [], []
    for r in slow.itertuples():
        parent = "(root)" if not _s(r.parent_span_id) else names.get(
            (r.trace_id, r.parent_span_id), "(parent not recorded)")
        entries.append(f"{r.duration_ms:10.1f} ms  {r.name}  <- {parent}  [{_s(r.service)}] "
                       f"status {_s(r.status)}  trace {_s(r.trace_id)}")
        lines.append(f"{r.duration_ms:.1f} ms {r.name} (parent: {parent}) trace {_s(r.trace_id)}")
    stats = span_stats(spans).head(10)
    table = "\n".join(f"{n[:60]:<60} n={int(r['n']):<6} p50={r['p50']:.1f}ms "
                      f"p95={r['p95']:.1f}ms max={r['max']:.1f}ms" for n, r in stats.iterrows())
    intro = (f"spans.parquet: {len(spans)} spans. Per span name, by p95:\n\n{fence(table)}\n\n"
             f"The {len(slow)} slowest spans (duration, name <- parent span, service, status, "
             "trace id):")
    return Excerpt(title, w.doc(name, title, intro, entries, "\n"), tuple(lines[:EXCERPT_N]),
                   len(spans))


def _console(w: _Writer, browser: pd.DataFrame) -> Excerpt:
    name, title = "console.md", "Console and page errors"
    if browser.empty or "kind" not in browser:
        return Excerpt(title, w.doc(name, title, "browser.parquet", []), (), 0)
    groups = console_groups(browser)
    entries, lines = [], []
    for r in groups.itertuples():
        loc = r.location or "?"
        entries.append(f"{int(r.count)}× [{r.kind}] at {loc}\n{_long(r.text)}"
                       + (f"\n{_long(r.stack)}" if r.stack else ""))
        lines.append(f"{int(r.count)}× {r.kind}: {clip(r.text)} at {loc}")
    intro = f"browser.parquet: {len(groups)} distinct console errors / page errors."
    return Excerpt(title, w.doc(name, title, intro, entries[:TOP_N]), tuple(lines[:EXCERPT_N]),
                   len(groups))


def _server_failures(spans: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(status, span name, trace id) of spans whose HTTP status attribute is >= 400."""
    if spans.empty or "attributes" not in spans:
        return []
    out = []
    cand = spans[spans["attributes"].fillna("").str.contains("status_code", regex=False)]
    for r in cand.itertuples():
        try:
            attrs = json.loads(r.attributes)
            code = int(attrs.get("http.response.status_code") or attrs.get("http.status_code")
                       or 0)
        except (ValueError, TypeError, AttributeError):
            continue
        if code >= 400:
            out.append((str(code), _s(r.name), _s(r.trace_id)))
    return out


def _failed_requests(w: _Writer, browser: pd.DataFrame, spans: pd.DataFrame) -> Excerpt:
    name, title = "failed_requests.md", "Failed requests"
    items: list[str] = []
    if not browser.empty and "kind" in browser:
        for r in failed_requests(browser).itertuples():
            what = _s(r.text) if r.kind == "requestfailed" else str(int(r.status))
            tid = _s(r.trace_id)
            items.append(f"browser {_s(r.method)} {_s(r.url)} -> {clip(what)}"
                         + (f" trace {tid}" if tid else ""))
    items += [f"server span {n} -> {code}" + (f" trace {tid}" if tid else "")
              for code, n, tid in _server_failures(spans)]
    entries = [f"{n}× {item}" for item, n in Counter(items).most_common()]
    intro = (f"browser.parquet (status >= 400 or failed) and server spans with an HTTP status "
             f">= 400: {len(items)} in all, {len(entries)} distinct.")
    return Excerpt(title, w.doc(name, title, intro, entries[:TOP_N], "\n"),
                   tuple(entries[:EXCERPT_N]), len(entries))


def _snapshot_paths(verdict: Verdict, run_dir: Path | None) -> list[Path]:
    found: list[str] = []
    evidences = [c.evidence for c in verdict.failing()]
    evidences += [s.evidence for r in verdict.runs for s in r.steps if not s.ok]
    for ev in evidences:
        found += [ev[k] for k in ("screenshot", "dom", "aria") if isinstance(ev.get(k), str)]
    if not found and run_dir is not None:
        found = [str(p) for p in sorted((run_dir / "screenshots").glob("*failure*.png"))]
    paths: list[Path] = []
    for item in found:
        p = Path(item)
        if not p.is_absolute() and run_dir is not None and not p.exists():
            p = run_dir / p
        if p.is_file() and p not in paths:
            paths.append(p)
    return paths


def _copy_snapshots(w: _Writer, verdict: Verdict, run_dir: Path | None) -> list[str]:
    out = []
    shots = [p for p in _snapshot_paths(verdict, run_dir) if p.suffix == ".png"]
    texts = [p for p in _snapshot_paths(verdict, run_dir) if p.suffix != ".png"]
    for p in shots[:MAX_SNAPSHOTS]:
        (w.dir / "screenshots").mkdir(exist_ok=True)
        shutil.copyfile(p, w.dir / "screenshots" / p.name)
        out.append(f"{EVIDENCE}/screenshots/{p.name}")
    for p in texts[:MAX_SNAPSHOTS]:
        out.append(w.text(f"dom/{p.name}", p.read_text(encoding="utf-8", errors="replace")))
    return out


def tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = 1 << 20) -> str:
    """The last `lines` lines of a text file ('' when missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:]) + "\n" if data.strip() else ""


def _gate_doc(gate_verdict: Verdict) -> str:
    try:
        table = "\n".join(table_lines(gate_verdict))
    except (KeyError, TypeError, IndexError, ValueError):
        table = json.dumps([c.to_json() for c in gate_verdict.checks], indent=2, default=str)
    return (f"# Why the previous attempt was rejected\n\nVerdict: "
            f"{gate_verdict.verdict}\n\nReason:\n\n"
            f"{fence(gate_verdict.reason or '')}\n\n{fence(table)}\n")


def write_bundle(*, out_dir: Path, scenario: Scenario, scenario_rel: str, repo_hint: str,
                 failing_verdict: Verdict, run_dir: Path | None, iteration: int,
                 previous_attempts: Sequence[dict[str, Any]] = (),
                 gate_verdict: Verdict | None = None,
                 redactor: Redactor, budget_chars: int = 12000,
                 cleanloop: str = "cleanloop") -> Path:
    """Write prompt.md and evidence/ under `out_dir`; returns the prompt's path.

    `cleanloop` is how the prompt's commands call cleanloop (`cleanloop_command`).

    `previous_attempts` entries: {"iteration", "outcome", "reason", "diff_stat"}.
    """
    w = _Writer(out_dir / EVIDENCE, redactor)
    failing = failing_verdict.failing()
    w.text("failing_checks.json", json.dumps(redactor.redact_data([c.to_json() for c in failing]),
                                             indent=2, default=str) + "\n")
    logs, spans, browser = (read_table(run_dir, n) for n in ("logs", "spans", "browser"))
    errors, trace_id = _error_logs(w, logs)
    excerpts = [errors, _console(w, browser), _slow_spans(w, spans),
                _failed_requests(w, browser, spans)]
    excerpts = [_mark_relevant(e, failing) for e in excerpts]
    attachments = _copy_snapshots(w, failing_verdict, run_dir)
    log_path = failing_verdict.artifacts.app_log or (
        run_dir / "app.log" if run_dir is not None else None)
    log_tail = tail(Path(log_path)) if log_path else ""
    attachments.append(w.text("app.log.tail", log_tail or "none\n"))
    attachments.append(w.text("scenario.yaml", scenario.source_text))
    attachments.insert(0, f"{EVIDENCE}/failing_checks.json")
    if gate_verdict is not None:
        attachments.append(w.text("gate.md", _gate_doc(gate_verdict)))
    if previous_attempts:
        body = fence("\n".join(attempt_line(a) for a in previous_attempts))
        attachments.append(w.text("attempts.md", f"# Previous attempts\n\n{body}\n"))
    ctx = PromptContext(
        scenario=scenario, scenario_rel=scenario_rel, repo_hint=repo_hint, iteration=iteration,
        bundle_dir=out_dir, run_dir=run_dir, failing_checks=failing, excerpts=excerpts,
        attachments=attachments, previous_attempts=previous_attempts,
        gate_verdict=gate_verdict, trace_id=trace_id, cleanloop=cleanloop)
    text = redactor.redact(render_prompt(ctx, redactor=redactor, budget_chars=budget_chars))
    prompt = out_dir / "prompt.md"
    prompt.write_text(text[:budget_chars], encoding="utf-8")
    return prompt


_RELEVANT_ROOTS = {
    "Error logs": ("logs",),
    "Console and page errors": ("console", "page", "step"),
    "Slow spans": ("span", "spans", "load", "request"),
    "Failed requests": ("requests", "request", "step", "load"),
}


def _mark_relevant(e: Excerpt, failing: Sequence[CheckEntry]) -> Excerpt:
    roots = {c.check.split("(")[0].split(".")[0].split(" ")[0].strip() for c in failing}
    relevant = bool(roots & set(_RELEVANT_ROOTS.get(e.title, ())))
    return Excerpt(e.title, e.file, e.lines, e.total, relevant)
