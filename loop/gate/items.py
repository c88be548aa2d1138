"""What the gate compares: targets, guards, and the default guards, as per-run values.

Every SLI the scenario's checks use is guarded by default at DEFAULT_GUARD_TOLERANCE
unless a target or guard already covers it. The check gives the guard its direction:
`<`, `<=` mean lower is better, `>`, `>=` higher is better. Checks with no direction
(`==`, `!=`), zero-count checks and 0/1 SLIs (`step(..).ok`, `app.crashed`) get no default
guard: the check itself holds in every candidate run. An explicit guard or target on a 0/1
SLI is judged per run by the gate (never by a ratio). A guard on a span glob (`span(*).p95`)
is expanded into one guard per span name seen in the baseline runs, so a patch that
slows down another route is caught by name; when no baseline span matches, the glob stays
one guard, which has no data and so rejects (missing data is never a pass).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cleanloop.loop.gate.rules import GateInput
from cleanloop.loop.model.checks import Check, Segment, SliRef
from cleanloop.loop.model.run_data import RunData
from cleanloop.loop.model.scenario import Scenario
from cleanloop.loop.model.sli import SliRegistry, higher_is_better, is_binary

#: tolerance of the guards cleanloop adds for every SLI used by a check
DEFAULT_GUARD_TOLERANCE = 0.10


@dataclass(frozen=True)
class Item:
    role: str                # target | guard
    ref: SliRef
    required: float
    source: str              # the text as written (or "default guard for ...")
    higher_is_better: bool = False


def planned_items(scenario: Scenario) -> list[Item]:
    items = [Item("target", c.sli, c.threshold, c.text, higher_is_better(c.sli))
             for c in scenario.targets]
    items += [Item("guard", c.sli, c.threshold, c.text, higher_is_better(c.sli))
              for c in scenario.guards]
    covered = {i.ref.text for i in items}
    for check in scenario.checks:
        # zero-count checks and 0/1 SLIs hold in every candidate run already, and a check
        # with no direction (== / !=) says nothing about which way is worse
        if check.kind == "zero" or is_binary(check.sli) or check.op in ("==", "!=") \
                or check.sli.text in covered:
            continue
        covered.add(check.sli.text)
        items.append(Item("guard", check.sli, DEFAULT_GUARD_TOLERANCE,
                          f"{check.sli.text} regresses <= {DEFAULT_GUARD_TOLERANCE:.0%} "
                          f"(default guard for '{check.text}')",
                          higher_is_better=_higher_is_better(check)))
    return items


def _higher_is_better(check: Check) -> bool:
    return check.op in (">", ">=")


def expand(items: Sequence[Item], baseline: Sequence[RunData]) -> list[Item]:
    """Expand span-glob guards into one guard per span name seen in the baseline."""
    out: list[Item] = []
    for item in items:
        seg = item.ref.segments[0]
        glob = seg.args[0] if seg.args else "*"
        if item.role != "guard" or item.ref.root not in ("span", "spans") or not any(
                c in glob for c in "*?["):
            out.append(item)
            continue
        names: set[str] = set()
        for run in baseline:
            names.update(str(n) for n in run.frame("spans")["name"].dropna().unique())
        matched = sorted(n for n in names if fnmatch.fnmatchcase(n, glob))
        if not matched:
            # nothing to expand into: keep the glob itself, whose missing data rejects
            out.append(item)
            continue
        for name in matched:
            segments = (replace(seg, args=(name,)),) + item.ref.segments[1:]
            text = f'{seg.name}("{name}")' + "".join(
                f".{_text(s)}" for s in item.ref.segments[1:])
            out.append(replace(item, ref=SliRef(segments, text),
                               source=f"{item.source} [{name}]"))
    return out


def _text(seg: Segment) -> str:
    return seg.name


def gate_inputs(registry: SliRegistry, items: Sequence[Item], baseline: Sequence[RunData],
                candidate: Sequence[RunData]) -> list[GateInput]:
    def values(runs: Sequence[RunData], item: Item) -> list[float]:
        # a run without data is NaN: the gate drops and reports it; all-NaN is MISSING
        return [math.nan if v is None else v for v in (registry.evaluate(r, item.ref)
                                                        for r in runs)]

    return [GateInput(sli=i.ref.text, source=i.source, role="target" if i.role == "target"
                      else "guard", required=i.required, baseline=values(baseline, i),
                      candidate=values(candidate, i), higher_is_better=i.higher_is_better,
                      per_run=is_binary(i.ref))
            for i in items]
