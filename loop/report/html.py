"""`cleanloop report RUN`: one self-contained HTML page for a run (or a verify) directory.

Everything that came from the app or the browser is escaped (html.escape) and passed
through the secret redactor before it is written; screenshots are linked, not inlined.
The slowest spans, spans by name, error logs, console errors and failed requests are
cleanloop.loop.model.evidence's, as in the run summary and the agent's evidence.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.base.redact import Redactor
from cleanloop.loop.model import evidence
from cleanloop.loop.model.verdict_types import Verdict
from cleanloop.loop.store.run_store import RunStore

if TYPE_CHECKING:
    import pandas as pd

_STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#1a1a1a}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#0a7d32}.bad{color:#b3261e}
code,pre{font:12px ui-monospace,monospace}pre{background:#f6f6f6;padding:8px;overflow:auto}
img{max-width:480px;border:1px solid #ccc;margin:4px}"""


def _evidence_tables(store: RunStore) -> dict[str, pd.DataFrame]:
    """The report's tables of one run directory, by title (columns as shown)."""
    spans, logs, browser = (store.frame(n) for n in ("spans", "logs", "browser"))
    stats = evidence.span_stats(spans).head(20).reset_index()
    failed = evidence.failed_requests(browser).head(20)
    return {
        "Slowest spans": evidence.slowest_spans(spans, 10)
        .assign(ms=lambda d: d["duration_ms"].round(2))[["name", "ms", "status", "trace_id",
                                                          "repeat"]],
        "Spans by name": stats.assign(p50_ms=stats["p50"].astype(float).round(2),
                                      p95_ms=stats["p95"].astype(float).round(2))
        [["name", "n", "p50_ms", "p95_ms", "errors"]],
        "Error logs": evidence.error_logs(logs).head(20)[["level", "message", "trace_id",
                                                          "source"]],
        "Console and page errors": evidence.console_errors(browser, warnings=True)
        .head(20)[["kind", "text", "location"]],
        "Failed requests": failed.assign(status=failed["status"].astype("Int64"))
        .rename(columns={"text": "failure"})[["method", "url", "status", "failure",
                                              "trace_id"]],
    }


def _rows(df: pd.DataFrame) -> list[list[Any]]:
    """Rows of plain Python values, missing values as None."""
    return [[None if _missing(v) else v for v in row]
            for row in df.astype(object).itertuples(index=False)]


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class _Page:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.parts: list[str] = []

    def text(self, value: Any) -> str:
        return html.escape(self.redactor.redact("" if value is None else str(value)))

    def heading(self, title: str) -> None:
        self.parts.append(f"<h2>{self.text(title)}</h2>")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              classes: Sequence[str] | None = None) -> None:
        head = "".join(f"<th>{self.text(c)}</th>" for c in columns)
        body = []
        for i, row in enumerate(rows):
            cls = f' class="{classes[i]}"' if classes else ""
            body.append(f"<tr{cls}>" + "".join(f"<td>{self.text(v)}</td>" for v in row)
                        + "</tr>")
        self.parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def _checks(page: _Page, verdict: Verdict) -> None:
    page.heading("Checks")
    rows: list[list[Any]] = []
    classes = []
    for c in verdict.checks:
        detail = c.note or c.evidence.get("reason") or ""
        rows.append(["pass" if c.ok else "FAIL", c.check, c.role, c.value, c.threshold,
                     c.classification, detail])
        classes.append("ok" if c.ok else "bad")
    page.table(["", "check", "role", "value", "threshold", "class", "detail"], rows, classes)


def _screenshots(page: _Page, run_dir: Path, report_dir: Path) -> None:
    shots = sorted(run_dir.glob("**/screenshots/*.png"))
    if not shots:
        return
    page.heading("Screenshots")
    for shot in shots:
        rel = html.escape(str(shot.relative_to(report_dir)), quote=True)
        page.parts.append(f'<a href="{rel}"><img src="{rel}" alt="{rel}"></a>')


def _tables(page: _Page, table_dir: Path, label: str) -> None:
    if not (table_dir / "spans.parquet").exists():
        return
    for title, df in _evidence_tables(RunStore(table_dir)).items():
        if not df.empty:
            page.heading(f"{title}{label}")
            page.table(list(df.columns), _rows(df))


def write_report(run_dir: Path, env: Mapping[str, str]) -> Path:
    verdict_path = run_dir / "verdict.json"
    if not verdict_path.exists():
        raise UsageError(f"{run_dir} has no verdict.json; is it a run directory?")
    verdict = Verdict.from_json(json.loads(verdict_path.read_text(encoding="utf-8")))
    page = _Page(Redactor.from_env(env))
    title = f"cleanloop {verdict.verdict.upper()}: {verdict.scenario}"
    page.parts.append(f"<h1>{page.text(title)}</h1>")
    if verdict.reason:
        page.parts.append(f"<p>{page.text(verdict.reason)}</p>")
    page.parts.append(f"<p><code>{page.text(run_dir)}</code></p>")
    _checks(page, verdict)
    for sub, label in ((run_dir, ""), (run_dir / "candidate", " (candidate)"),
                       (run_dir / "baseline", " (baseline)")):
        _tables(page, sub, label)
    _screenshots(page, run_dir, run_dir)
    steps = [[r.side or "", r.repeat, s.index, s.name, "ok" if s.ok else "FAIL",
              round(s.duration_ms, 1), s.message] for r in verdict.runs for s in r.steps]
    if steps:
        page.heading("Steps")
        page.table(["side", "run", "#", "step", "", "ms", "message"], steps)
    out = run_dir / "report.html"
    out.write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                   f"{page.text(title)}</title><style>{_STYLE}</style></head><body>"
                   + "\n".join(page.parts) + "</body></html>\n", encoding="utf-8")
    return out
