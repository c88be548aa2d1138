"""`cleanloop query RUN "SQL"`: DuckDB over a run's tables (spans, logs, metrics, browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from cleanloop.loop.base.errors import UsageError

TABLE_NAMES = ("spans", "logs", "metrics", "browser")


def query_run(run_dir: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` with each table of the run available as a view. Returns (columns, rows).

    In a verify directory the views hold both sides, told apart by a `side` column."""
    con = duckdb.connect(":memory:")
    try:
        for name in TABLE_NAMES:
            sources = _sources(run_dir, name)
            if sources:
                con.execute(f"CREATE VIEW {name} AS " + " UNION ALL BY NAME ".join(sources))
        try:
            cur = con.execute(sql)
        except duckdb.Error as exc:
            raise UsageError(f"query failed: {exc}") from exc
        if cur.description is None:
            return [], []
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    finally:
        con.close()


def _sources(run_dir: Path, table: str) -> list[str]:
    """SELECTs for one table: the run's own file, or for a verify (or calibrate) directory
    the baseline's and the candidate's, with a `side` column."""
    def read(path: Path) -> str:
        return "read_parquet('" + str(path).replace("'", "''") + "')"

    own = run_dir / f"{table}.parquet"
    if own.exists():
        return [f"SELECT * FROM {read(own)}"]
    return [f"SELECT '{side}' AS side, * FROM {read(run_dir / side / f'{table}.parquet')}"
            for side in ("baseline", "candidate")
            if (run_dir / side / f"{table}.parquet").exists()]


def format_table(columns: list[str], rows: list[tuple[Any, ...]], max_width: int = 60) -> str:
    def cell(v: Any) -> str:
        s = "NULL" if v is None else str(v)
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    body = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    lines.append(f"({len(rows)} row{'s' * (len(rows) != 1)})")
    return "\n".join(lines)
