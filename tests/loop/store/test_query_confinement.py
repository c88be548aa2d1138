"""`cleanloop query` runs one read-only statement over the run's tables and nothing else: no
file written or read, no extension, no setting changed. Through `query_run`, through the locked
connection itself, and through the CLI as a real process (exit code 2 and the message)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleanloop.loop.base.errors import UsageError
from cleanloop.loop.base.schema import TABLE_NAMES
from cleanloop.loop.store.query import LOCKDOWN, confined_connection, query_run
from tests.loop.store.run_dirs import cleanloop, write_run, write_verify

MARKER = "cleanloop-secret-marker-7f3a"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    write_run(tmp_path / "run", n_spans=3)
    return tmp_path / "run"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside the run directory, each holding MARKER."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text(f"{MARKER}\n")
    (out / "secret.csv").write_text(f"key,value\ntoken,{MARKER}\n")
    pq.write_table(pa.table({"value": [MARKER]}), out / "secret.parquet")
    con = duckdb.connect(str(out / "secret.duckdb"))
    con.execute(f"CREATE TABLE t AS SELECT '{MARKER}' AS value")
    con.close()
    return out


def refused(run_dir: Path, sql: str) -> str:
    with pytest.raises(UsageError) as info:
        query_run(run_dir, sql)
    message = str(info.value)
    assert MARKER not in message
    return message


# --- reading outside the run ------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
])
def test_system_files_cannot_be_read(run_dir: Path, sql: str) -> None:
    message = refused(run_dir, sql)
    assert message.startswith("query refused: it may read the run's tables")
    assert "Permission Error" in message


def test_a_file_name_is_no_table(run_dir: Path) -> None:
    """Without external access DuckDB does not turn a quoted file name into a scan."""
    assert "Table with name /etc/passwd does not exist" in refused(
        run_dir, "SELECT * FROM '/etc/passwd'")


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_text('{o}/secret.txt')",
    "SELECT content FROM read_text('{o}/secret.txt')",
    "SELECT * FROM read_csv('{o}/secret.csv')",
    "SELECT * FROM read_json('{o}/secret.txt')",
    "SELECT * FROM read_parquet('{o}/secret.parquet')",
    "SELECT * FROM parquet_metadata('{o}/secret.parquet')",
    "SELECT * FROM spans UNION ALL BY NAME SELECT * FROM read_parquet('{o}/secret.parquet')",
])
def test_files_outside_the_run_cannot_be_read(run_dir: Path, outside: Path, sql: str) -> None:
    message = refused(run_dir, sql.format(o=outside))
    assert message.startswith("query refused: it may read the run's tables")


def test_the_runs_own_parquet_files_are_not_read_either(run_dir: Path) -> None:
    """The tables are loaded before the lock: afterwards no file is readable, not even these."""
    message = refused(run_dir, f"SELECT count(*) FROM read_parquet('{run_dir}/spans.parquet')")
    assert "query refused" in message


# --- writing ----------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "COPY (SELECT 42) TO '{t}/x'",
    "COPY spans TO '{t}/x' (FORMAT parquet)",
    "EXPORT DATABASE '{t}/x'",
    "EXPLAIN ANALYZE COPY (SELECT 42) TO '{t}/x'",
])
def test_nothing_is_written(run_dir: Path, tmp_path: Path, sql: str) -> None:
    target = tmp_path / "written"
    target.mkdir()
    message = refused(run_dir, sql.format(t=target))
    assert "query refused" in message
    assert list(target.iterdir()) == []


# --- databases, extensions, secrets, settings -----------------------------------------

def test_attach_is_refused(run_dir: Path, outside: Path, tmp_path: Path) -> None:
    message = refused(run_dir, f"ATTACH '{outside}/secret.duckdb' AS other")
    assert "this one is ATTACH" in message
    refused(run_dir, f"ATTACH '{tmp_path}/new.duckdb' AS fresh")
    assert not (tmp_path / "new.duckdb").exists()
    refused(run_dir, f"SELECT * FROM '{outside}/secret.duckdb'")


@pytest.mark.parametrize("sql", [
    "INSTALL httpfs", "LOAD httpfs", "INSTALL h3 FROM community", "FORCE INSTALL spatial",
    "LOAD '/tmp/evil.duckdb_extension'",
])
def test_extensions_cannot_be_installed_or_loaded(run_dir: Path, sql: str) -> None:
    assert "this one is LOAD" in refused(run_dir, sql)


@pytest.mark.parametrize("sql", [
    "SET threads = 1",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET enable_external_access",
    "PRAGMA threads = 1",
    "SET GLOBAL autoload_known_extensions = true",
])
def test_settings_cannot_be_changed(run_dir: Path, sql: str) -> None:
    assert "this one is SET" in refused(run_dir, sql)


def test_config_pragmas_are_refused_and_write_nothing(run_dir: Path, tmp_path: Path) -> None:
    assert refused(run_dir, "PRAGMA enable_profiling").startswith(
        "query refused: settings cannot be changed")
    refused(run_dir, f"PRAGMA profiling_output = '{tmp_path}/profile.json'")
    assert not (tmp_path / "profile.json").exists()


@pytest.mark.parametrize("sql", [
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "CREATE TABLE t AS SELECT * FROM spans",
    "DROP TABLE spans",
    "INSERT INTO spans (name) VALUES ('x')",
])
def test_statements_that_create_or_change_are_refused(run_dir: Path, sql: str) -> None:
    assert "only a read-only statement" in refused(run_dir, sql)


# --- one statement ----------------------------------------------------------------------

def test_several_statements_are_refused_and_none_runs(run_dir: Path, tmp_path: Path) -> None:
    assert refused(run_dir, "SELECT 1; SELECT 2").startswith("give one SQL statement, not 2")
    # the last statement is not run silently, nor any other
    refused(run_dir, f"SELECT count(*) FROM spans; COPY spans TO '{tmp_path}/x.csv'")
    refused(run_dir, f"COPY spans TO '{tmp_path}/x.csv'; SELECT 1")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ; ", "-- just a comment"])
def test_empty_sql_is_an_error(run_dir: Path, sql: str) -> None:
    assert refused(run_dir, sql).startswith("empty SQL")


def test_a_trailing_semicolon_is_one_statement(run_dir: Path) -> None:
    assert query_run(run_dir, "SELECT count(*) FROM spans;")[1] == [(3,)]


def test_a_run_directory_without_tables_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(UsageError, match="holds no run tables .*did the run finish"):
        query_run(tmp_path / "unfinished", "SELECT 1")


# --- the lock itself, whatever the statement filter lets through ------------------------

def test_the_connection_is_locked_down(run_dir: Path, outside: Path, tmp_path: Path) -> None:
    con = confined_connection(run_dir)
    try:
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            f"({', '.join(repr(n) for n, _ in LOCKDOWN)})").fetchall())
        assert settings == dict(LOCKDOWN)
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]
        for sql in (f"COPY spans TO '{tmp_path}/lock.csv'",
                    f"SELECT * FROM read_text('{outside}/secret.txt')",
                    f"ATTACH '{outside}/secret.duckdb' AS other",
                    f"ATTACH '{tmp_path}/lock.duckdb' AS fresh",
                    "INSTALL httpfs", "LOAD httpfs",
                    "SET threads = 1", "SET enable_external_access = true",
                    "SET lock_configuration = false", "PRAGMA enable_profiling",
                    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')"):
            with pytest.raises(duckdb.Error) as info:
                con.execute(sql).fetchall()
            assert MARKER not in str(info.value), sql
        assert not (tmp_path / "lock.csv").exists()
        assert not (tmp_path / "lock.duckdb").exists()
        assert dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            f"({', '.join(repr(n) for n, _ in LOCKDOWN)})").fetchall()) == dict(LOCKDOWN)
    finally:
        con.close()


# --- what keeps working -----------------------------------------------------------------

def test_aggregates_joins_and_describe_still_work(run_dir: Path) -> None:
    columns, rows = query_run(run_dir, "SELECT name, count(*) AS n, max(duration_ms) AS worst "
                                       "FROM spans GROUP BY name ORDER BY name")
    assert columns == ["name", "n", "worst"]
    assert rows == [("run-0", 1, 10.0), ("run-1", 1, 20.0), ("run-2", 1, 30.0)]
    _, rows = query_run(run_dir, "SELECT s.name, l.message FROM spans s JOIN logs l "
                                 "USING (trace_id) WHERE l.level = 'error'")
    assert rows == [("run-0", "run log 0")]
    _, rows = query_run(run_dir, "SELECT (SELECT count(*) FROM metrics), "
                                 "(SELECT count(*) FROM browser), repeat FROM spans LIMIT 1")
    assert rows == [(1, 1, 0)]
    _, rows = query_run(run_dir, "SHOW TABLES")
    assert sorted(r[0] for r in rows) == sorted(TABLE_NAMES)
    _, rows = query_run(run_dir, "DESCRIBE logs")
    assert "message" in [r[0] for r in rows]
    _, rows = query_run(run_dir, "WITH slow AS (FROM spans WHERE duration_ms > 15) "
                                 "SELECT count(*) FROM slow")
    assert rows == [(2,)]


def test_a_verify_directory_unions_both_sides(tmp_path: Path) -> None:
    top = write_verify(tmp_path / "verify")
    _, rows = query_run(top, "SELECT side, count(*) FROM spans GROUP BY side ORDER BY side")
    assert rows == [("baseline", 2), ("candidate", 3)]
    _, rows = query_run(top, "SELECT s.side, count(*) FROM spans s JOIN logs l "
                             "ON s.trace_id = l.trace_id AND s.side = l.side "
                             "GROUP BY 1 ORDER BY 1")
    assert rows == [("baseline", 2), ("candidate", 3)]


# --- through the command line, as a real process ---------------------------------------

def test_cli_refuses_a_copy_with_exit_2_and_writes_nothing(run_dir: Path,
                                                           tmp_path: Path) -> None:
    target = tmp_path / "copied.csv"
    proc = cleanloop("query", str(run_dir), f"COPY (SELECT 42) TO '{target}'", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "cleanloop: error: query refused: only a read-only statement" in proc.stderr
    assert "this one is COPY" in proc.stderr
    assert proc.stdout == ""
    assert not target.exists()


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM read_text('{o}/secret.txt')", "query refused: it may read the run's tables"),
    ("SELECT * FROM read_csv('/etc/passwd')", "query refused: it may read the run's tables"),
    ("SELECT * FROM read_text('/etc/hostname')", "query refused: it may read the run's tables"),
    ("ATTACH '{o}/secret.duckdb' AS other", "this one is ATTACH"),
    ("INSTALL httpfs", "this one is LOAD"),
    ("SET enable_external_access = true", "this one is SET"),
    ("SELECT 1; SELECT 2", "give one SQL statement, not 2"),
    ("  ", "empty SQL"),
])
def test_cli_refusals_exit_2_with_the_message(run_dir: Path, outside: Path, tmp_path: Path,
                                              sql: str, message: str) -> None:
    proc = cleanloop("query", str(run_dir), sql.format(o=outside), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("cleanloop: error: ") and message in proc.stderr
    assert MARKER not in proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_cli_still_answers_queries_over_a_run_and_a_verify(run_dir: Path,
                                                           tmp_path: Path) -> None:
    proc = cleanloop("query", str(run_dir), "SELECT count(*) AS n, sum(duration_ms) AS total "
                                            "FROM spans", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 3, "total": 60.0}]
    top = write_verify(tmp_path / "verify")
    proc = cleanloop("query", str(top), "SELECT side, count(*) AS n FROM spans GROUP BY side "
                                        "ORDER BY side", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"side": "baseline", "n": 2},
                                       {"side": "candidate", "n": 3}]
