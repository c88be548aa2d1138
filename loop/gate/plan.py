"""The sequential plan of a verify: looks at n runs per side, alpha split over the looks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cleanloop.loop.base.errors import GateError

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
