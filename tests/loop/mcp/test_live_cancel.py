"""A start_app the client cancels mid-boot leaves no session and no process behind: the boot
cannot be interrupted, so what it started is stopped as soon as it is up."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from mcp.client import Client

from cleanloop.loop.mcp.server import CleanloopMcp
from tests.conftest import descendants
from tests.loop.mcp.test_live_page import CALL_TIMEOUT_S, FORM_SERVER, STOP_TIMEOUT_S
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

# the app blocks reading a FIFO until the test writes to it: its boot lasts exactly as long as
# the test wants, with no polling on either side
GATED = """\
import pathlib, runpy
here = pathlib.Path(__file__).parent
with open(here / "go", "rb") as gate:
    gate.read(1)
runpy.run_path(str(here / "form.py"), run_name="__main__")
"""
SCENARIO = ('name: gated\napp:\n  command: "{python} gated.py {port}"\n  ready: {http: /}\n'
            "  timeout: 60s\nbrowser:\n  viewport: [800, 600]\nsteps:\n"
            "  - browser: {goto: /}\n")


def test_cancelling_start_app_mid_boot_stops_what_it_started(tmp_path: Path) -> None:
    (tmp_path / "form.py").write_text(FORM_SERVER)
    (tmp_path / "gated.py").write_text(GATED)
    (tmp_path / "gated.yaml").write_text(SCENARIO)
    os.mkfifo(tmp_path / "go")
    # held open read-write until the end: the byte written stays in the pipe until the app
    # opens it, and the app's open never waits for a writer
    gate = os.open(tmp_path / "go", os.O_RDWR)
    mcp = CleanloopMcp(dict(os.environ), cwd=tmp_path)
    server = mcp.build()
    before = descendants(os.getpid())

    def app_spawned() -> bool:
        return any(b"gated.py" in Path(f"/proc/{p}/cmdline").read_bytes()
                   for p in descendants(os.getpid()) - before
                   if Path(f"/proc/{p}/cmdline").exists())

    async def main() -> None:
        async with Client(server) as client:
            async with anyio.create_task_group() as tg:
                async def start() -> None:
                    await client.call_tool("start_app", {"scenario": "gated.yaml"})

                tg.start_soon(start)
                with anyio.fail_after(CALL_TIMEOUT_S):
                    while not app_spawned():
                        await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
            os.write(gate, b"g")   # now let the boot finish
            with anyio.fail_after(CALL_TIMEOUT_S):
                while len(mcp.live.apps) or descendants(os.getpid()) - before:
                    await anyio.sleep(0.05)

    try:
        anyio.run(main)
    finally:
        os.close(gate)
        assert mcp.live.shutdown(STOP_TIMEOUT_S) == []
    assert wait_until(lambda: not (descendants(os.getpid()) - before), 10.0)
    assert len(mcp.live.apps) == 0
