"""RunStore: one directory per run, columnar tables (parquet) plus artifacts.

Layout (ARCHITECTURE.md): spans/logs/metrics/browser.parquet, screenshots/, dom/,
traces/, app.log, scenario.yaml, verdict.json, report.html. Every table row
carries `repeat`, the 0-based repetition of the scenario it came from.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanloop.loop.base import schema
from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.base.schema import Columns, append_columns, arrow_table

if TYPE_CHECKING:
    import pandas as pd

RUNS_DIR = Path(".cleanloop") / "runs"
#: written last, when a run or verify finishes: its presence marks a finished run directory
VERDICT = "verdict.json"


def ensure_state_dir(root: Path) -> Path:
    """`.cleanloop/` under root, ignoring itself so the user's `git status` stays clean."""
    state = root / ".cleanloop"
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return state


def new_run_id(scenario: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in scenario)[:40]
    return f"{now:%Y%m%d-%H%M%S}-{safe}-{secrets.token_hex(2)}"


class RunStore:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir
        self._columns: dict[str, Columns] = {}

    @classmethod
    def create(cls, root: Path, scenario: str) -> RunStore:
        ensure_state_dir(root)
        run_dir = root / RUNS_DIR / new_run_id(scenario)
        for sub in ("screenshots", "dom", "traces"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        return cls(run_dir)

    @property
    def app_log(self) -> Path:
        return self.dir / "app.log"

    def add(self, repeat: int, tables: Mapping[str, Columns]) -> None:
        """Append one repetition's column batches, tagging each row with `repeat`."""
        for name, cols in tables.items():
            if not cols:
                continue
            n = max(len(v) for v in cols.values())
            append_columns(self._columns.setdefault(name, {}), {**cols, "repeat": [repeat] * n})

    def write_tables(self) -> dict[str, Path]:
        import pyarrow.parquet as pq

        out = {}
        for name in schema.TABLE_NAMES:
            path = self.dir / f"{name}.parquet"
            pq.write_table(arrow_table(name, self._columns.get(name, {})), path)
            out[name] = path
        return out

    def frame(self, name: str) -> pd.DataFrame:
        """The table as a DataFrame: from memory while running, from parquet afterwards."""
        import pyarrow.parquet as pq

        if name in self._columns or not (self.dir / f"{name}.parquet").exists():
            return arrow_table(name, self._columns.get(name, {})).to_pandas()
        return pq.read_table(self.dir / f"{name}.parquet").to_pandas()

    def write_json(self, name: str, data: Any) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        return path


def resolve_run(root: Path, ref: str) -> Path:
    """A run directory from a path, a run id, an id prefix or `last` (the newest finished
    run or verify, see `last_finished`)."""
    direct = Path(ref)
    if (direct / VERDICT).exists() or (direct / "spans.parquet").exists():
        return direct
    runs = root / RUNS_DIR
    candidates = sorted(p for p in runs.glob("*") if p.is_dir()) if runs.exists() else []
    if ref in ("last", "latest"):
        return last_finished(runs, candidates)
    matches = [p for p in candidates if p.name.startswith(ref) or ref in p.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run matches {ref!r} under {runs}")
    raise UsageError(f"{ref!r} matches {len(matches)} runs; be more specific")


def last_finished(runs: Path, candidates: list[Path]) -> Path:
    """The run (or verify) directory that finished last: the newest verdict.json by its
    modification time (run ids order by start, and only to the second). Directories without
    a verdict.json (still running, interrupted, failed before their verdict) are skipped."""
    finished: list[tuple[int, str, Path]] = []
    for path in candidates:
        try:
            finished.append(((path / VERDICT).stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    if finished:
        return max(finished)[2]
    if not candidates:
        raise UsageError(f"no runs yet under {runs}")
    raise UsageError(f"no finished run under {runs}: none of its {len(candidates)} "
                     f"director{'y' if len(candidates) == 1 else 'ies'} has a {VERDICT} yet "
                     "(still running, or stopped before its verdict); name one by its id")
