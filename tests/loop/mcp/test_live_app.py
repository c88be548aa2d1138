"""A live app (the MCP `start_app`) boots like `cleanloop run` does, with the scenario's
browser options: a real page server, a real Chromium, real collectors."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from cleanloop.loop.mcp.apps import LiveApps
from cleanloop.loop.model.scenario import load_scenario
from tests.apps.page_server import PAGE_SERVER

pytestmark = pytest.mark.browser



def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_live_app_uses_the_scenarios_viewport_and_stops_everything(tmp_path: Path) -> None:
    (tmp_path / "pages.py").write_text(PAGE_SERVER)
    path = tmp_path / "ui.yaml"
    path.write_text('name: ui\napp:\n  command: "{python} pages.py {port}"\n'
                    "  ready: {http: /}\n  timeout: 10s\n"
                    "browser:\n  viewport: [640, 360]\n"
                    "steps:\n  - browser: {goto: /}\n")
    apps = LiveApps(os.environ)
    app = apps.start(load_scenario(path), tmp_path, tmp_path, owner="me")
    try:
        assert app.startup_ms is not None and app.startup_ms > 0
        assert app.base_url.startswith("http://127.0.0.1:")
        shot = app.on_page(lambda page: page.screenshot(full_page=False))
        assert png_size(shot.read_bytes()) == (640, 360)
        assert app.on_page(lambda page: page.page.url) == app.base_url + "/"
    finally:
        stopped = apps.stop(app.id, owner="me")
    assert stopped.exit_code is not None
    assert stopped.rows["browser"] >= 1               # the page's requests were recorded
    assert stopped.rows["logs"] >= 1                  # "serving", from the process log capture
    assert stopped.recorded_steps == 1                # the opening goto
    assert (Path(stopped.dir) / "browser.parquet").is_file()
    assert len(apps) == 0
