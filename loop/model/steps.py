"""What every probe step shares: the parsed step, and its result.

A probe acts on the app from outside (HTTP, load, browser). A failed step is a
result value (`StepResult(ok=False, ...)`), never an exception; a probe raises
`cleanloop.loop.base.errors.ProbeError` only when it cannot run at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One scenario step as written in YAML.

    kind:   "http" | "load" | "browser"
    index:  0-based position in the scenario's steps
    line:   1-based line of the step in the scenario file (0 when unknown)
    name:   the step's `name:` or a generated one ("browser:click", "http:GET /x")
    params: the mapping under the kind key, e.g. {"click": "text=Add", "timeout": 5.0}
            (durations already converted to seconds by the loader where the key is `timeout`)
    source: the scenario file path, for messages
    """

    kind: str
    index: int
    line: int
    name: str
    params: Mapping[str, Any]
    source: str = ""

    def where(self) -> str:
        """`file:line step #index (name)` for error messages."""
        loc = f"{self.source}:{self.line}" if self.source else f"line {self.line}"
        return f"{loc} step #{self.index} ({self.name})"


@dataclass
class StepResult:
    index: int
    kind: str
    name: str
    ok: bool
    duration_ms: float
    message: str = ""
    started_ns: int = 0
    #: evidence for a failed step: paths (screenshot, dom, aria), status codes, counts ...
    evidence: dict[str, Any] = field(default_factory=dict)
    #: a failed *expectation* (expect_text, expect_status ...) rather than a broken step
    is_check: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "kind": self.kind, "name": self.name, "ok": self.ok,
            "duration_ms": round(self.duration_ms, 3), "message": self.message,
            "is_check": self.is_check, "evidence": self.evidence,
        }
