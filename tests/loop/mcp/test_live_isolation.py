"""Two MCP clients of one server never share a page: each session has its own browser context
(cookies and storage), and a client cannot use or stop another client's session."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from tests.loop.mcp.test_live_page import FORM_SERVER, SCENARIO, call, error, ok, with_clients

pytestmark = pytest.mark.browser

READ_STATE = "[document.cookie, localStorage.getItem('who')]"


@pytest.fixture
def form_repo(tmp_path: Path) -> Path:
    (tmp_path / "form.py").write_text(FORM_SERVER)
    (tmp_path / "form.yaml").write_text(SCENARIO)
    return tmp_path


def test_two_clients_have_separate_contexts_and_sessions(form_repo: Path) -> None:
    async def body(alice: Client, bob: Client) -> None:
        mine = ok(await call(alice, "start_app", scenario="form.yaml"))["session"]
        theirs = ok(await call(bob, "start_app", scenario="form.yaml"))["session"]
        wrote = ok(await call(alice, "evaluate", session=mine, expression=(
            "(document.cookie = 'who=alice; path=/', localStorage.setItem('who', 'alice'), "
            f"{READ_STATE})")))
        assert wrote["result"] == ["who=alice", "alice"]
        seen = ok(await call(bob, "evaluate", session=theirs, expression=READ_STATE))
        assert seen["result"] == ["", None]

        for tool, args in (("evaluate", {"expression": "1"}), ("snapshot", {}),
                           ("console_messages", {}), ("save_scenario", {"path": "b.yaml"}),
                           ("stop_app", {})):
            refused = error(await call(bob, tool, session=mine, **args))
            assert "belongs to another MCP client" in refused, tool
        assert not (form_repo / "b.yaml").exists()
        # alice's session is untouched by bob's attempts
        still = ok(await call(alice, "evaluate", session=mine, expression=READ_STATE))
        assert still["result"] == ["who=alice", "alice"]
        assert "no live session 'nope'" in error(await call(alice, "click", session="nope",
                                                           selector="a"))
        ok(await call(bob, "stop_app", session=theirs))
        ok(await call(alice, "stop_app", session=mine))

    with_clients(form_repo, body, clients=2)
