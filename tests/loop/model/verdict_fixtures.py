"""Synthetic inputs for a run verdict and a verify verdict (no app, no git): fixed paths,
fixed values, so their JSON can be compared with the golden files in verdict_golden/."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cleanloop.loop.gate.rules import DEFAULT_PLAN, GateInput, decide
from cleanloop.loop.gate.types import GateDecision
from cleanloop.loop.model.checks import parse_check
from cleanloop.loop.model.evaluation import CheckResult
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.steps import StepResult

GOLDEN = Path(__file__).parent / "verdict_golden"
RUN_DIR = Path("/nonexistent/cleanloop/runs/20250101-000000-shop-abcd")


def reps() -> list[RunData]:
    ok = StepResult(0, "http", "open", True, 12.34567, started_ns=5)
    bad = StepResult(1, "browser", "cart-count", False, 40.0,
                     message="step #1 (cart-count) at s.yaml:9: expect_text failed",
                     evidence={"screenshot": "screenshots/failure-1.png", "dom": "dom/1.html"},
                     is_check=True)
    first = RunData(0, startup_ms=812.5, steps=[ok, bad],
                    collector_stats={"otlp": {"spans": 3}}, rows_after_last_step={"spans": 0},
                    quiesce_ms=12.0, quiesce_outcome="quiet")
    second = RunData(1, startup_ms=None, steps=[ok], exit_code=-9, crashed=True,
                     quiesce_outcome="skipped")
    return [first, second]


def check_results() -> list[CheckResult]:
    slow = parse_check('span("POST /api/checkout").p95 < 60ms', line=7)
    errors = parse_check("logs(level >= error).count == 0", line=8)
    startup = parse_check("app.startup < 2000ms", line=9)
    return [
        CheckResult(slow, [81.123456, None], 81.123456, False, worst=None,
                    note="no data in 1 of 2 run(s)",
                    evidence={"matching_spans": 1, "slowest": [
                        {"name": "POST /api/checkout", "duration_ms": 81.123,
                         "trace_id": "ab" * 16, "status": "ERROR"}], "errors": 1}),
        CheckResult(errors, [0.0, 2.0], 2.0, False, worst=2.0,
                    note="non-zero in 1 of 2 run(s)",
                    evidence={"matching_lines": 2, "top": [
                        {"level": "error", "message": "boom", "count": 2, "trace_id": ""}]}),
        CheckResult(startup, [812.5, 700.0], 756.25, True, worst=812.5),
    ]


def decision() -> GateDecision:
    items = [GateInput("span(\"GET /a\").p95", "span(\"GET /a\").p95 improves >= 20%", "target",
                       0.2, [100.0, 101, 99, 102, 98, 100], [60.0, 61, 59, 62, 58, 60]),
             GateInput("errors", "errors regresses <= 0%", "guard", 0.0, [0.0] * 6, [1.0] * 6,
                       per_run=True)]
    return decide(items, DEFAULT_PLAN, 0)


def sides() -> list[Any]:
    def side(label: str, commit: str, runs: list[RunData]) -> Any:
        return SimpleNamespace(label=label, worktree=SimpleNamespace(commit=commit),
                               store=SimpleNamespace(dir=RUN_DIR / label), runs=runs)

    return [side("baseline", "a" * 40, reps()[:1]), side("candidate", "b" * 40, reps())]


def scenario() -> Any:
    return SimpleNamespace(name="shop", path="scenarios/shop.yaml")
