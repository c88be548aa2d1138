"""What the MCP tools return, as pydantic models, so the server publishes real output schemas.

    run_scenario   RunResult     verdict pass|fail, run_id, run_dir, summary lines, failing
    query          QueryResult   run_dir, columns, rows (at most `limit`), row_count, truncated
    list_failures  list[Failure] (on the wire {"result": [...]}): the failing checks of a run
    verify         VerifyResult  verdict accept|reject|inconclusive, reason, table (the human
                                 lines), rows (the same as numbers: GateRow), runs per side,
                                 run_dir, failing
    verify_start   JobStarted    job, state
    verify_status, verify_cancel
                   JobStatus     job, state, phase, updates, elapsed_s, result (VerifyResult)
                                 or error

The key names are those of the dicts the tools returned before (verdict, run_id, run_dir,
summary, failing, table, columns, rows, row_count, truncated, reason); new keys only add to
them. A Failure is a check entry of verdict.json (cleanloop.loop.model.verdict_types) with the
keys an agent needs; its evidence (cleanloop.loop.model.evidence) is typed where its shape is
known and passes any other key through. Screenshot paths stay in the evidence; the images
themselves are content blocks (cleanloop.loop.mcp.result_content).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from cleanloop.loop.mcp.jobs import JobState
from cleanloop.loop.model.verdict import summary_lines
from cleanloop.loop.model.verdict_types import CheckEntry, Verdict
from cleanloop.loop.report.verify_table import table_lines, table_rows

logger = logging.getLogger(__name__)

RUN_URI = "cleanloop://runs/{run_id}"


class _Open(BaseModel):
    """An evidence item: the known keys typed, any other key passed through."""

    model_config = ConfigDict(extra="allow")


class SlowSpan(_Open):
    name: str = ""
    duration_ms: float | None = None
    trace_id: str = ""
    status: str = ""


class LogGroup(_Open):
    level: str = ""
    message: str = ""
    count: int = 0
    trace_id: str = ""


class ConsoleError(_Open):
    text: str = ""
    location: str = ""


class PageError(_Open):
    text: str = ""
    location: str = ""
    stack: str = ""


class FailedRequest(_Open):
    method: str = ""
    url: str = ""
    status: int | None = None
    failure: str = ""
    trace_id: str = ""
    step: str = ""
    backend: str = Field(default="", description="the backend's cause, from the request's trace")


class Evidence(_Open):
    """The rows behind a failing check (only the keys that apply are present)."""

    matching_spans: int | None = Field(default=None, description="spans the check's SLI matched")
    slowest: list[SlowSpan] | None = Field(default=None, description="the slowest matching spans")
    errors: int | None = Field(default=None, description="matching spans of status ERROR")
    matching_lines: int | None = Field(default=None, description="log lines the check matched")
    top: list[LogGroup] | None = Field(default=None, description="the most frequent matching lines")
    console_errors: list[ConsoleError] | None = None
    page_errors: list[PageError] | None = None
    failed_requests: list[FailedRequest] | None = None
    startup_ms: list[float | None] | None = Field(default=None, description="start-up per run")
    screenshot: str | None = Field(default=None, description="PNG taken when a browser step failed "
                                                     "(also returned as image content)")
    dom: str | None = Field(default=None, description="the page's HTML when a browser step failed")
    aria: str | None = Field(default=None,
                             description="the page's aria snapshot when a browser step failed")

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if v is not None}


class Failure(BaseModel):
    """A check that did not hold, with its value, its threshold and the evidence."""

    check: str = Field(description="the check as written (source text), or 'step #i (name)' "
                                   "for a failed step, 'app.crashed == 0' for a crash")
    kind: str = Field(description="absolute | zero | relative")
    role: str = Field(description="check | target | guard")
    value: float | None = Field(description="the SLI's value (relative: candidate/baseline "
                                             "ratio); null: no data or a failed step")
    threshold: float | None
    unit: str = Field(default="", description="'ms' or '' (counts, ratios)")
    worst: float | None = Field(default=None, description="the worst run's value (absolute checks)")
    repeat: int | None = Field(default=None, description="the repetition a step failed or the app "
                                                 "crashed in (0-based)")
    step: int | None = Field(default=None, description="the failed step's index")
    note: str = ""
    classification: str = Field(default="",
                                description="the gate's: improved, held, regressed, ...")
    evidence: Evidence = Field(default_factory=Evidence)


class RunResult(BaseModel):
    """The outcome of run_scenario."""

    verdict: Literal["pass", "fail"]
    run_id: str
    run_dir: str
    summary: list[str] = Field(description="one line per check with its value, and evidence")
    failing: list[Failure]
    files: str = Field(description="resource listing the run directory's artifacts")


class QueryResult(BaseModel):
    """The outcome of query."""

    run_dir: str
    columns: list[str]
    rows: list[list[Any]] = Field(description="at most `limit` rows, JSON values")
    row_count: int = Field(description="rows the statement returned, before truncation")
    truncated: bool


class GateRow(BaseModel):
    """One row of a verify's table as numbers (null where it does not apply): a target or a
    guard the gate compared (kind relative), or a check judged on the candidate alone."""

    check: str = Field(description="the target, guard or check as written")
    sli: str | None = Field(description="the compared SLI (relative rows)")
    role: str = Field(description="target | guard | check")
    kind: str = Field(description="relative | absolute | zero")
    unit: str
    baseline_median: float | None
    baseline_iqr_low: float | None
    baseline_iqr_high: float | None
    candidate_median: float | None
    candidate_iqr_low: float | None
    candidate_iqr_high: float | None
    ratio: float | None = Field(description="candidate / baseline (Hodges-Lehmann)")
    ci_low: float | None = Field(description="the ratio's interval")
    ci_high: float | None
    p_value: float | None
    op: str = Field(description="what must hold: `ratio op threshold` (relative), "
                                "`value op threshold` (check)")
    threshold: float | None
    value: float | None = Field(description="the ratio (relative) or the candidate's value")
    worst: float | None = Field(description="a check's worst candidate run")
    runs_baseline: int | None = Field(description="runs with a value, baseline side")
    runs_candidate: int | None = Field(description="runs with a value, candidate side")
    cv: float | None = Field(description="run-to-run coefficient of variation")
    detectable: float | None = Field(description="smallest effect decidable at this n")
    judged: str | None = Field(description="ratio | per_run")
    runs_needed: int | None
    false_accept_bound: float | None
    ok: bool
    result: str = Field(description="improved, held, regressed, not_improved, inconclusive, "
                                    "unknown, missing; a check: pass | fail")
    note: str
    advice: str


class VerifyResult(BaseModel):
    """The outcome of verify."""

    verdict: Literal["accept", "reject", "inconclusive"]
    reason: str
    table: list[str] = Field(description="the per-SLI table, as `cleanloop verify` prints it")
    rows: list[GateRow] = Field(description="the table's rows as numbers")
    baseline_commit: str
    candidate_commit: str
    baseline_runs: int = Field(description="runs made on the baseline")
    candidate_runs: int = Field(description="runs made on the candidate")
    run_id: str
    run_dir: str
    failing: list[Failure]
    files: str = Field(description="resource listing the verify directory's artifacts")


class JobStarted(BaseModel):
    """What verify_start answers: the job to poll."""

    job: str = Field(description="pass it to verify_status / verify_cancel")
    state: JobState


class JobStatus(BaseModel):
    """What verify_status and verify_cancel answer about a background verify."""

    job: str
    state: JobState
    phase: str = Field(description="what it is doing: side, run k of n, the current estimate, "
                                   "the app's phase; or what it is queued behind")
    updates: int = Field(description="progress updates so far (grows while it works)")
    elapsed_s: float = Field(description="seconds since it was started")
    result: VerifyResult | None = Field(description="the verify result, once state is done")
    error: str | None = Field(description="why it failed or that it was cancelled")


# -- converters ---------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """`value` as plain JSON types: dicts, lists, str, int, finite floats, bools, None (numbers
    that are not finite become None, a pydantic model its JSON form, anything exotic its
    string)."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def evidence_of(raw: dict[str, Any]) -> Evidence:
    """`raw` as Evidence; a known key of an unexpected shape is kept as-is under `other_<key>`
    (a tool must never fail over the shape of its evidence)."""
    data: dict[str, Any] = jsonable(raw) if isinstance(raw, dict) else {}
    try:
        return Evidence.model_validate(data)
    except ValidationError as exc:
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        logger.debug("mcp: evidence keys %s of an unexpected shape", sorted(bad))
        return Evidence.model_validate({(f"other_{k}" if k in bad else k): v
                                        for k, v in data.items()})


def failure_of(entry: CheckEntry) -> Failure:
    """A failing check entry of a verdict as a Failure."""
    return Failure(check=entry.check, kind=entry.kind, role=entry.role,
                   value=_finite(entry.value), threshold=_finite(entry.threshold),
                   unit=entry.unit, worst=_finite(entry.worst), repeat=entry.repeat,
                   step=entry.step, note=entry.note, classification=entry.classification,
                   evidence=evidence_of(entry.evidence))


def failures_of(verdict: Verdict) -> list[Failure]:
    """The checks of `verdict` that did not hold."""
    return [failure_of(c) for c in verdict.failing()]


def run_result(verdict: Verdict, run_dir: Path) -> RunResult:
    return RunResult(verdict="pass" if verdict.passed else "fail", run_id=run_dir.name,
                     run_dir=str(run_dir), summary=summary_lines(verdict),
                     failing=failures_of(verdict), files=files_uri(run_dir.name))


def gate_rows(verdict: Verdict) -> list[GateRow]:
    """The rows of a verify's table (cleanloop.loop.report.verify_table) as GateRows."""
    return [GateRow.model_validate(asdict(row)) for row in table_rows(verdict)]


def verify_result(verdict: Verdict, outcome: str, reason: str, run_dir: Path) -> VerifyResult:
    base, cand = verdict.baseline, verdict.candidate
    if base is None or cand is None:
        raise ValueError("not the verdict of a verify: no baseline and candidate")
    return VerifyResult.model_validate(dict(
        verdict=outcome, reason=reason, table=table_lines(verdict), rows=gate_rows(verdict),
        baseline_commit=base.commit, candidate_commit=cand.commit, baseline_runs=base.runs,
        candidate_runs=cand.runs, run_id=run_dir.name, run_dir=str(run_dir),
        failing=failures_of(verdict), files=files_uri(run_dir.name)))


def files_uri(run_id: str) -> str:
    return RUN_URI.format(run_id=run_id) + "/files"


def _finite(v: float | None) -> float | None:
    out = jsonable(v)
    return out if isinstance(out, int | float) and not isinstance(out, bool) else None
