"""RunData: everything one repetition (one boot of the app) produced.

The session fills it while the app runs (`absorb` takes the collectors' column batches), the
store writes its columns, SLI evaluation reads its tables as DataFrames (`frame`), and the
verdict reports its start-up, steps, crash and quiesce. One type from collection to verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cleanloop.loop.base.schema import Columns, append_columns, arrow_table
from cleanloop.loop.model.steps import StepResult

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RunData:
    """One repetition's data.

    tables:  DataFrames by table name (every row carries `repeat`); built from `columns` on
             first use when the data was collected in this process
    columns: the collected tables in column form, as the session absorbed them
    """

    repeat: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    startup_ms: float | None = None
    steps: list[StepResult] = field(default_factory=list)
    #: the app's exit code when it died during the run
    exit_code: int | None = None
    crashed: bool = False
    columns: dict[str, Columns] = field(default_factory=dict)
    collector_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    #: spans/logs/metrics rows the OTLP receiver took in after the last step ended
    #: (None when the steps did not run to their end)
    rows_after_last_step: dict[str, int] | None = None
    #: how long the stop waited for the app's last telemetry (None: no wait)
    quiesce_ms: float | None = None
    #: how that wait ended: quiet, bound, exited, or skipped (the app had crashed)
    quiesce_outcome: str | None = None

    def absorb(self, batches: Mapping[str, Columns]) -> None:
        """Append collected column batches (a table's frame is rebuilt on next use)."""
        for name, cols in batches.items():
            append_columns(self.columns.setdefault(name, {}), cols)
            self.tables.pop(name, None)

    def frame(self, name: str) -> pd.DataFrame:
        """The table as a DataFrame with the documented columns (empty when nothing came)."""
        df = self.tables.get(name)
        if df is None:
            cols = self.columns.get(name, {})
            rows = max((len(v) for v in cols.values()), default=0)
            df = arrow_table(name, {**cols, "repeat": [self.repeat] * rows}).to_pandas()
            self.tables[name] = df
        return df
