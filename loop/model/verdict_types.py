"""The verdict of a run or a verify as one typed value, and its JSON form (verdict.json).

Built once (cleanloop.loop.model.verdict for a run, cleanloop.loop.gate.verify_verdict for a
verify), held by RunResult / VerifyResult, handed in memory to the CLI, the fix loop and the MCP
tools, and turned into JSON only where it is written or printed (`to_json`, `dumps`). `from_json`
is for readers of a verdict.json on disk (the HTML report, `list_failures`).

The JSON keys are stable (ARCHITECTURE.md "Verdict JSON"): each check entry writes the keys of
its origin, in a fixed order; a run's verdict writes `not_evaluated`, a verify's `reason`,
`baseline`, `candidate` and `gate`. Evidence and the gate's decision stay JSON objects: they are
the evidence rows (cleanloop.loop.model.evidence) and the gate's own JSON form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from cleanloop.loop.model.steps import StepResult

#: a JSON object as json.loads gives it
JsonObject = dict[str, Any]

#: where a check entry came from: a scenario check evaluated over the runs, a failed step,
#: a crash of the app, or a target/guard the gate compared (kind "relative")
Origin = Literal["check", "step", "crash", "gate"]

_ENTRY_KEYS: dict[Origin, tuple[str, ...]] = {
    "check": ("check", "kind", "role", "value", "threshold", "op", "ok", "worst", "values",
              "note", "line", "unit", "evidence"),
    "step": ("check", "kind", "role", "step", "value", "threshold", "ok", "repeat", "note",
             "evidence"),
    "crash": ("check", "kind", "role", "value", "threshold", "ok", "repeat", "note",
              "evidence"),
    "gate": ("check", "kind", "role", "value", "threshold", "ok", "unit", "classification",
             "evidence"),
}


@dataclass(frozen=True)
class CheckEntry:
    """One row of a verdict's `checks`.

    kind:  absolute | zero | relative;  role: check | target | guard
    value: the SLI's value (a relative entry: the candidate/baseline ratio); None: no data
    Keys an origin does not write keep their defaults ('' / None / ()).
    """

    origin: Origin
    check: str
    kind: str
    role: str
    value: float | None
    threshold: float | None
    ok: bool
    evidence: JsonObject = field(default_factory=dict)
    op: str = ""
    worst: float | None = None
    values: tuple[float | None, ...] = ()
    note: str = ""
    line: int | None = None
    unit: str = ""
    #: the failed step's index (origin "step")
    step: int | None = None
    #: the repetition a step failed or the app crashed in (origins "step" and "crash")
    repeat: int | None = None
    #: the gate's classification (origin "gate"): improved, held, regressed, ...
    classification: str = ""

    def to_json(self) -> JsonObject:
        out = {key: getattr(self, key) for key in _ENTRY_KEYS[self.origin]}
        if "values" in out:
            out["values"] = list(self.values)
        return out

    @classmethod
    def from_json(cls, d: JsonObject) -> CheckEntry:
        origin: Origin = ("step" if "step" in d else "gate" if "classification" in d
                          else "check" if {"values", "op", "line"} & d.keys() else "crash")
        return cls(origin=origin, check=str(d.get("check", "")), kind=d.get("kind", ""),
                   role=d.get("role", ""), value=d.get("value"), threshold=d.get("threshold"),
                   ok=bool(d.get("ok")), evidence=d.get("evidence") or {}, op=d.get("op") or "",
                   worst=d.get("worst"), values=tuple(d.get("values") or ()),
                   note=d.get("note") or "", line=d.get("line"), unit=d.get("unit") or "",
                   step=d.get("step"), repeat=d.get("repeat"),
                   classification=d.get("classification") or "")


@dataclass(frozen=True)
class RunEntry:
    """One repetition in a verdict's `runs` (of a run, or of one side of a verify)."""

    repeat: int
    startup_ms: float | None
    crashed: bool
    exit_code: int | None
    steps: tuple[StepResult, ...]
    collectors: dict[str, dict[str, int]]
    rows_after_last_step: dict[str, int] | None
    quiesce_ms: float | None
    quiesce_outcome: str | None
    #: baseline | candidate in a verify; None in a run
    side: str | None = None

    def to_json(self) -> JsonObject:
        out: JsonObject = {} if self.side is None else {"side": self.side}
        out.update(repeat=self.repeat, startup_ms=self.startup_ms, crashed=self.crashed,
                   exit_code=self.exit_code, steps=[s.as_dict() for s in self.steps],
                   collectors=self.collectors, rows_after_last_step=self.rows_after_last_step,
                   quiesce_ms=self.quiesce_ms, quiesce_outcome=self.quiesce_outcome)
        return out

    @classmethod
    def from_json(cls, d: JsonObject) -> RunEntry:
        steps = tuple(StepResult(index=s.get("index", 0), kind=s.get("kind", ""),
                                 name=s.get("name", ""), ok=bool(s.get("ok", True)),
                                 duration_ms=s.get("duration_ms") or 0.0,
                                 message=s.get("message") or "",
                                 evidence=s.get("evidence") or {},
                                 is_check=bool(s.get("is_check")))
                      for s in d.get("steps", []))
        return cls(repeat=d.get("repeat", 0), startup_ms=d.get("startup_ms"),
                   crashed=bool(d.get("crashed")), exit_code=d.get("exit_code"), steps=steps,
                   collectors=d.get("collectors") or {},
                   rows_after_last_step=d.get("rows_after_last_step"),
                   quiesce_ms=d.get("quiesce_ms"), quiesce_outcome=d.get("quiesce_outcome"),
                   side=d.get("side"))


@dataclass(frozen=True)
class SideInfo:
    """One side of a verify: its commit and how many runs it made."""

    commit: str
    runs: int

    def to_json(self) -> JsonObject:
        return {"commit": self.commit, "runs": self.runs}


_ARTIFACT_KEYS = ("run_dir", "app_log", "tables", "screenshots", "dom", "app_log_tail",
                  "baseline", "candidate")


@dataclass(frozen=True)
class Artifacts:
    """Where the evidence is. A run: its directory, app.log, tables, screenshots, DOM snapshots
    (and the log's tail when it failed); a verify: its directory and each side's."""

    run_dir: str
    app_log: str | None = None
    tables: dict[str, str] | None = None
    screenshots: list[str] | None = None
    dom: list[str] | None = None
    app_log_tail: str | None = None
    baseline: str | None = None
    candidate: str | None = None

    def to_json(self) -> JsonObject:
        return {k: getattr(self, k) for k in _ARTIFACT_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_json(cls, d: JsonObject) -> Artifacts:
        return cls(**{k: d.get(k) for k in _ARTIFACT_KEYS if k != "run_dir"},
                   run_dir=str(d.get("run_dir", "")))


@dataclass(frozen=True)
class Verdict:
    """The verdict of a `run` (pass | fail) or a `verify` (accept | reject | inconclusive)."""

    verdict: str
    scenario: str
    scenario_file: str
    runs: tuple[RunEntry, ...]
    checks: tuple[CheckEntry, ...]
    artifacts: Artifacts
    #: a run's targets and guards, which need a baseline (None in a verify)
    not_evaluated: tuple[str, ...] | None = None
    #: a verify's: why it ended so, each side's commit and runs, the gate's last decision
    reason: str | None = None
    baseline: SideInfo | None = None
    candidate: SideInfo | None = None
    gate: JsonObject | None = None

    @property
    def is_verify(self) -> bool:
        return self.baseline is not None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def failing(self) -> list[CheckEntry]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> JsonObject:
        out: JsonObject = {"verdict": self.verdict}
        if self.is_verify:
            out["reason"] = self.reason
        out.update(scenario=self.scenario, scenario_file=self.scenario_file)
        if self.baseline is not None and self.candidate is not None:
            out.update(baseline=self.baseline.to_json(), candidate=self.candidate.to_json())
        out.update(runs=[r.to_json() for r in self.runs],
                   checks=[c.to_json() for c in self.checks])
        if self.is_verify:
            out["gate"] = self.gate
        else:
            out["not_evaluated"] = list(self.not_evaluated or ())
        out["artifacts"] = self.artifacts.to_json()
        return out

    def dumps(self) -> str:
        """The text of verdict.json."""
        return json.dumps(self.to_json(), indent=2, default=str) + "\n"

    @classmethod
    def from_json(cls, d: JsonObject) -> Verdict:
        """A verdict read back; keys a hand-written or partial file lacks take defaults."""
        def side(key: str) -> SideInfo | None:
            s = d.get(key)
            return None if s is None else SideInfo(str(s.get("commit", "")), s.get("runs", 0))

        not_evaluated = d.get("not_evaluated")
        return cls(verdict=str(d.get("verdict", "?")), scenario=str(d.get("scenario", "?")),
                   scenario_file=str(d.get("scenario_file", "")),
                   runs=tuple(RunEntry.from_json(r) for r in d.get("runs", [])),
                   checks=tuple(CheckEntry.from_json(c) for c in d.get("checks", [])),
                   artifacts=Artifacts.from_json(d.get("artifacts") or {}),
                   not_evaluated=None if not_evaluated is None else tuple(not_evaluated),
                   reason=d.get("reason"), baseline=side("baseline"),
                   candidate=side("candidate"), gate=d.get("gate"))
