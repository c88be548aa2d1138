"""`cleanloop query RUN "SQL"`: DuckDB over a run's tables (spans, logs, metrics, browser).

The SQL is confined to the run's tables. The tables are loaded into an in-memory database
first, then the connection is locked (`LOCKDOWN`): no file, network or extension access, no
persistent secrets, no configuration change (`lock_configuration`). Only one read-only
statement runs (`READ_ONLY`); several statements, an empty one or a writing one are refused
before anything is loaded. Any refusal or failure is a UsageError (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.base.schema import TABLE_NAMES

#: settings applied, in order, once the run's tables are loaded; the last one freezes them all
LOCKDOWN: tuple[tuple[str, str], ...] = (
    ("autoinstall_known_extensions", "false"),
    ("autoload_known_extensions", "false"),
    ("allow_community_extensions", "false"),
    ("allow_persistent_secrets", "false"),
    ("enable_external_access", "false"),
    ("lock_configuration", "true"),
)

#: statement kinds that only read: SELECT (also WITH, FROM, VALUES, DESCRIBE, SHOW,
#: SUMMARIZE), EXPLAIN, PRAGMA (config PRAGMAs parse as SET), CALL and PIVOT (MULTI)
READ_ONLY = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI"})
#: DuckDB's message when a locked setting is changed
_LOCKED = "the configuration has been locked"
_SHOWN = "SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN, PRAGMA or CALL"


def query_run(run_dir: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement over the run's tables. Returns (columns, rows).

    In a verify directory the tables hold both sides, told apart by a `side` column."""
    con = duckdb.connect(":memory:")
    try:
        statement = _one_statement(con, sql)
        _confine(con, run_dir)
        try:
            cur = con.execute(statement)
        except duckdb.PermissionException as exc:
            raise UsageError(f"query refused: it may read the run's tables "
                             f"({', '.join(TABLE_NAMES)}) only, no files, extensions or "
                             f"network: {exc}") from exc
        except duckdb.Error as exc:
            if _LOCKED in str(exc):
                raise UsageError(f"query refused: settings cannot be changed: {exc}") from exc
            raise UsageError(f"query failed: {exc}") from exc
        if cur.description is None:
            return [], []
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    finally:
        con.close()


def confined_connection(run_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection holding the run's tables, locked down (see LOCKDOWN)."""
    con = duckdb.connect(":memory:")
    try:
        _confine(con, run_dir)
    except BaseException:
        con.close()
        raise
    return con


def _one_statement(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The single read-only statement in `sql`, or a UsageError saying why not."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {exc}") from exc
    if not statements:
        raise UsageError('empty SQL: give one statement, e.g. "SELECT count(*) FROM spans"')
    if len(statements) > 1:
        raise UsageError(f"give one SQL statement, not {len(statements)}: cleanloop query "
                         "runs a single query (no `;`-separated list)")
    statement = statements[0]
    kind = statement.type.name
    if kind not in READ_ONLY:
        raise UsageError(f"query refused: only a read-only statement ({_SHOWN}) runs over the "
                         f"run's tables; this one is {kind}")
    return statement


def _confine(con: duckdb.DuckDBPyConnection, run_dir: Path) -> None:
    _load(con, run_dir)
    for name, value in LOCKDOWN:
        con.execute(f"SET {name} = {value}")


def _load(con: duckdb.DuckDBPyConnection, run_dir: Path) -> None:
    """Each table of the run as an in-memory table (a copy: nothing reads files later)."""
    loaded = 0
    for name in TABLE_NAMES:
        sources = _sources(run_dir, name)
        if sources:
            try:
                con.execute(f"CREATE TABLE {name} AS " + " UNION ALL BY NAME ".join(sources))
            except duckdb.Error as exc:
                raise UsageError(f"cannot load {name} of {run_dir}: {exc}") from exc
            loaded += 1
    if not loaded:
        raise UsageError(f"{run_dir} holds no run tables ({', '.join(TABLE_NAMES)}); "
                         "did the run finish?")


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
