"""The MCP `query` tool: confined to the run's tables, one statement, and `last` is the newest
finished run (through the official SDK client, in-process, on run directories built with the
real RunStore)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp_types import CallToolResult, TextContent

from cleanloop.loop.mcp.server import CleanloopMcp
from tests.loop.store.run_dirs import finish, runs_dir, write_run

CALL_TIMEOUT_S = 60.0
HOSTNAME = Path("/etc/hostname").read_text(encoding="utf-8").strip() \
    if Path("/etc/hostname").exists() else "no-hostname-file"


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.pop("CLEANLOOP_HOME", None)
    return out


def query(repo: Path, calls: list[dict[str, Any]]) -> list[CallToolResult]:
    results: list[CallToolResult] = []

    async def main() -> None:
        server = CleanloopMcp(env(), cwd=repo).build()
        with anyio.fail_after(CALL_TIMEOUT_S):
            async with Client(server) as client:
                for args in calls:
                    result = await client.call_tool("query", args)
                    assert isinstance(result, CallToolResult)
                    results.append(result)

    anyio.run(main)
    return results


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    run = runs_dir(root) / "20261202-120000-shop-aaaa"
    write_run(run, n_spans=3)
    finish(run)
    return root


def test_query_over_mcp_reaches_only_the_runs_tables(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "written.csv"
    attached = tmp_path / "other.duckdb"
    escapes = {
        "copy": f"COPY (SELECT 42) TO '{target}'",
        "read_text": "SELECT content FROM read_text('/etc/hostname')",
        "read_csv": "SELECT * FROM read_csv('/etc/passwd')",
        "attach": f"ATTACH '{attached}' AS other",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "set": "SET enable_external_access = true",
        "set_threads": "SET threads = 1",
        "two_statements": "SELECT 1; SELECT count(*) FROM spans",
    }
    results = query(repo, [{"run": "last", "sql": sql} for sql in escapes.values()])
    for (name, sql), result in zip(escapes.items(), results, strict=True):
        assert result.is_error, f"{name}: {sql} was not refused: {text_of(result)}"
        assert HOSTNAME not in text_of(result) and "root:" not in text_of(result), name
    assert not target.exists() and not attached.exists()
    assert "one" in text_of(results[-1]).lower() or "statement" in text_of(results[-1]).lower()

    fine = query(repo, [{"run": "last", "sql": "SELECT count(*) AS n FROM spans JOIN logs "
                                              "USING (trace_id)"}])[0]
    assert not fine.is_error, text_of(fine)
    assert fine.structured_content is not None
    assert fine.structured_content["rows"] == [[3]]


def test_last_over_mcp_is_the_newest_finished_run(repo: Path) -> None:
    runs = runs_dir(repo)
    # finished later, but sorts first by name
    early_name = runs / "20261202-120001-shop-0000"
    write_run(early_name, n_spans=5, tag="newest")
    finish(early_name, mtime_ns=2_000_000_000_000_000_000)
    # a newer directory that never finished (a failed verify): no tables, no verdict
    (runs / "20261202-120001-verify-zzzz").mkdir(parents=True)
    os.utime(runs / "20261202-120000-shop-aaaa" / "verdict.json",
             ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))

    result = query(repo, [{"run": "last", "sql": "SELECT count(*) FROM spans"}])[0]
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["rows"] == [[5]]
    assert result.structured_content["run_dir"].endswith("20261202-120001-shop-0000")
