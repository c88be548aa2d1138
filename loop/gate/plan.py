"""The sequential plan of a verify: looks at n runs per side, alpha split over the looks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cleanloop.loop.base.errors import GateError, UsageError

if TYPE_CHECKING:
    from cleanloop.loop.gate.types import GateDecision


@dataclass(frozen=True)
class SequentialPlan:
    """Looks at initial_runs, +step, ... up to max_runs runs per side; alpha split evenly.

    The defaults are the plan `cleanloop verify` uses unless told otherwise (DEFAULT_PLAN):
    looks at 6, 10, 14, 18 runs per side (6 vs 6 is the smallest sample whose exact test can
    reach alpha / 4).
    """

    initial_runs: int = 6
    step: int = 4
    max_runs: int = 18
    alpha: float = 0.01

    @classmethod
    def from_runs(cls, runs: int, max_runs: int, alpha: float) -> SequentialPlan:
        """First look at `runs` per side, then every two thirds of that, up to `max_runs`
        (what `--runs`, `--max-runs` and `--alpha` ask for)."""
        return cls(initial_runs=runs, step=max(1, runs * 2 // 3), max_runs=max_runs,
                   alpha=alpha)

    def __post_init__(self) -> None:
        if self.initial_runs < 1 or self.step < 1 or self.max_runs < self.initial_runs:
            raise GateError(f"bad sequential plan: {self}")
        if not 0.0 < self.alpha < 0.5:
            raise GateError(f"alpha must be in (0, 0.5), got {self.alpha}")

    @property
    def looks(self) -> tuple[int, ...]:
        """Runs per side at each look; max_runs is always the last one."""
        ns = list(range(self.initial_runs, self.max_runs + 1, self.step))
        if ns[-1] != self.max_runs:
            ns.append(self.max_runs)
        return tuple(ns)

    @property
    def k_max(self) -> int:
        return len(self.looks)

    @property
    def alpha_look(self) -> float:
        return self.alpha / self.k_max

    def is_final(self, look_index: int) -> bool:
        return look_index >= self.k_max - 1

    def next_n(self, decision: GateDecision | None) -> int | None:
        """Total runs per side wanted before the next look (None: stop, the gate decided).

        ``next_n(None)`` is the first look's size.
        """
        if decision is None:
            return self.looks[0]
        if decision.outcome != "continue" or self.is_final(decision.look_index):
            return None
        return self.looks[decision.look_index + 1]


#: the plan `cleanloop verify` uses unless told otherwise (the dataclass's defaults)
DEFAULT_PLAN = SequentialPlan()


def plan_from_bounds(runs: int | None, max_runs: int | None, alpha: float | None = None, *,
                     names: tuple[str, str, str] = ("--runs", "--max-runs", "--alpha"),
                     ) -> SequentialPlan | None:
    """The plan a user's bounds ask for: `--runs`, `--max-runs` and `--alpha` of `cleanloop
    verify` and `fix`, the `runs` and `max_runs` of the MCP verify tool.

    None when no bound is given (verify then picks the plan for the scenario). Otherwise the
    ones not given take DEFAULT_PLAN's values (max_runs: at least runs) and the plan is used
    as given: first look at `runs` per side, then every two thirds of that up to `max_runs`.
    `names` are the options as the caller's user wrote them, for the UsageError messages."""
    runs_name, max_name, alpha_name = names
    if runs is None and max_runs is None and alpha is None:
        return None
    if runs is not None and runs < 2:
        raise UsageError(f"{runs_name} must be at least 2 (got {runs}): the gate needs at "
                         "least 2 runs per side")
    first = DEFAULT_PLAN.initial_runs if runs is None else runs
    cap = max(first, DEFAULT_PLAN.max_runs) if max_runs is None else max_runs
    if cap < first:
        if runs is None:
            raise UsageError(f"{max_name} ({cap}) must be at least {runs_name}, which is "
                             f"{first} unless given: give {runs_name} too")
        raise UsageError(f"{max_name} ({cap}) must be at least {runs_name} ({first})")
    chosen = DEFAULT_PLAN.alpha if alpha is None else alpha
    if not 0.0 < chosen < 0.5:
        raise UsageError(f"{alpha_name} must be between 0 and 0.5 (got {chosen:g})")
    return SequentialPlan.from_runs(first, cap, chosen)
