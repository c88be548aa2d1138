"""`cleanloop mcp` through a real MCP client session over stdio, on the seeded shop repo."""

from __future__ import annotations

import base64
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult, ImageContent, TextContent

from cleanloop.loop.cli.demo import seed_repository
from tests.conftest import descendants
from tests.waiting import wait_until

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
ALL_TOOLS = {"run_scenario", "query", "list_failures", "verify", "verify_start", "verify_status",
             "verify_cancel", "start_app", "screenshot", "snapshot", "stop_app"}
ROOT = Path(__file__).resolve().parents[3]
CALL_TIMEOUT_S = 120.0


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return seed_repository(tmp_path / "shop")


def server_params(repo: Path) -> StdioServerParameters:
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(ROOT)}
    env.pop("CLEANLOOP_HOME", None)
    return StdioServerParameters(command=sys.executable, args=["-m", "cleanloop.loop.mcp.server"],
                                 cwd=repo, env=env)


def with_session(repo: Path, body: Callable[[ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with stdio_client(server_params(repo)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await body(session)

    anyio.run(main)


async def call(client: ClientSession, tool: str, /, **args: Any) -> CallToolResult:
    result = await client.call_tool(tool, args, read_timeout_seconds=CALL_TIMEOUT_S)
    assert isinstance(result, CallToolResult)
    return result


def ok(result: CallToolResult) -> Any:
    assert not result.is_error, text_of(result)
    return result.structured_content


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def wait_gone(pids: set[int], timeout_s: float = 10.0) -> set[int]:
    def alive() -> set[int]:
        return {p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)}

    wait_until(lambda: not alive(), timeout_s)
    return alive()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def server_pid_of(app_pid: int) -> int:
    return int(Path(f"/proc/{app_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_run_query_and_failures_over_mcp(shop: Path) -> None:
    async def body(session: ClientSession) -> None:
        tools = await session.list_tools()
        assert ALL_TOOLS <= {t.name for t in tools.tools}
        assert all(t.description and len(t.description) > 80 for t in tools.tools)
        schema = next(t.input_schema for t in tools.tools if t.name == "run_scenario")
        assert "repository" in schema["properties"]["scenario"]["description"]

        run = ok(await call(session, "run_scenario", scenario="error-log.yaml"))
        assert run["verdict"] == "fail"
        assert Path(run["run_dir"]).name == run["run_id"]
        failing = {c["check"]: c for c in run["failing"]}
        assert "logs(level >= error).count == 0" in failing
        assert failing["logs(level >= error).count == 0"]["value"] > 0
        assert any("price feed unavailable" in line for line in run["summary"])

        counted = ok(await call(session, "query", run="last", sql="SELECT count(*) FROM spans"))
        assert counted["columns"] == ["count_star()"]
        assert counted["rows"][0][0] > 0

        bad = await call(session, "query", run="last", sql="SELECT nope FROM spans")
        assert bad.is_error
        assert "query failed" in text_of(bad)

        few = ok(await call(session, "query", run=run["run_id"], sql="SELECT * FROM logs",
                            limit=2))
        assert len(few["rows"]) == 2 and few["truncated"] and few["row_count"] > 2

        failures = ok(await call(session, "list_failures"))["result"]
        assert {c["check"] for c in failures} == set(failing)
        assert all("evidence" in c and "threshold" in c for c in failures)

        missing = await call(session, "list_failures", run="no-such-run")
        assert missing.is_error and "no run matches" in text_of(missing)
        bad_verify = await call(session, "verify", scenario="error-log.yaml")
        assert bad_verify.is_error and "exactly one of" in text_of(bad_verify)

    with_session(shop, body)


@pytest.mark.browser
def test_live_app_screenshot_snapshot_and_cleanup(shop: Path) -> None:
    seen: set[int] = set()

    async def body(session: ClientSession) -> None:
        started = ok(await call(session, "start_app", scenario="ui-add-to-cart.yaml"))
        assert started["base_url"].startswith("http://127.0.0.1:")
        sid = started["session"]

        shot = await call(session, "screenshot", session=sid)
        images = [c for c in shot.content if isinstance(c, ImageContent)]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
        assert Path(ok(shot)["file"]).read_bytes().startswith(b"\x89PNG")

        snap = ok(await call(session, "snapshot", session=sid))
        assert "Add to cart" in snap["aria"]
        assert "<html" in snap["dom"].lower()
        assert Path(snap["files"]["aria"]).exists()

        # a second live app, left running: closing the session must stop it too
        other = ok(await call(session, "start_app", scenario="error-log.yaml"))
        seen.update(descendants(server_pid_of(other["pid"])))
        assert other["pid"] in seen

        stopped = ok(await call(session, "stop_app", session=sid))
        assert stopped["rows"]["spans"] > 0
        assert wait_gone({started["pid"]}) == set()
        spans = ok(await call(session, "query", run=stopped["dir"],
                              sql="SELECT count(*) FROM spans"))
        assert spans["rows"][0][0] == stopped["rows"]["spans"]

        gone = await call(session, "screenshot", session=sid)
        assert gone.is_error and "no live session" in text_of(gone)

    with_session(shop, body)
    assert seen and wait_gone(seen) == set()


@pytest.mark.browser
def test_sigterm_stops_live_apps(shop: Path) -> None:
    seen: set[int] = set()

    async def body(session: ClientSession) -> None:
        started = ok(await call(session, "start_app", scenario="ui-add-to-cart.yaml"))
        server = server_pid_of(started["pid"])
        seen.update(descendants(server))
        os.kill(server, signal.SIGTERM)
        assert wait_gone({server}, 15.0) == set()

    with_session(shop, body)
    assert len(seen) > 2 and wait_gone(seen) == set()
    sessions = list((shop / ".cleanloop" / "sessions").iterdir())
    assert len(sessions) == 1 and (sessions[0] / "spans.parquet").exists()
