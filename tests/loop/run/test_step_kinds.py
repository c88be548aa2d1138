"""The step registry: one executor per step kind the scenario loader accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cleanloop.loop.base.errors import ProbeError, ScenarioError
from cleanloop.loop.base.http_client import loopback_client
from cleanloop.loop.model.scenario import STEP_KINDS, load_scenario
from cleanloop.loop.model.steps import Step
from cleanloop.loop.run.step_kinds import STEP_EXECUTORS, Drivers, executor_for, run_step


class Handler(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self) -> None:  # http.server naming
        with Handler.lock:
            Handler.hits += 1
        status = 404 if self.path == "/missing" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10.0)


def steps_of(tmp_path: Path, steps: str) -> tuple[Step, ...]:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\napp:\n  command: x\nsteps:\n{steps}")
    return load_scenario(path).steps


def test_every_kind_the_loader_accepts_has_exactly_one_executor() -> None:
    assert tuple(STEP_EXECUTORS) == STEP_KINDS


def test_http_and_load_steps_run_through_the_registry(tmp_path: Path, server: str) -> None:
    steps = steps_of(tmp_path, "  - http: {path: /a}\n"
                               "  - http: {path: /missing, expect_status: 200}\n"
                               "  - load: {path: /b, requests: 20, concurrency: 4}\n")
    Handler.hits = 0
    with loopback_client(base_url=server, timeout=10.0) as client:
        results = [run_step(step, Drivers(client)) for step in steps]
    assert [(r.kind, r.ok, r.is_check) for r in results] == [
        ("http", True, False), ("http", False, True), ("load", True, False)]
    assert "returned 404" in results[1].message and "s.yaml:" in results[1].message
    assert Handler.hits == 1 + 1 + 20


def test_a_browser_step_without_a_browser_cannot_run(tmp_path: Path, server: str) -> None:
    [step] = steps_of(tmp_path, "  - browser: {goto: /}\n")
    with loopback_client(base_url=server, timeout=10.0) as client, \
            pytest.raises(ProbeError, match=r"s\.yaml:5 step #0 .*needs a browser session"):
        run_step(step, Drivers(client))


def test_an_unknown_kind_names_the_step_where_it_was_written() -> None:
    step = Step(kind="ftp", index=2, line=9, name="ftp:get", params={}, source="x.yaml")
    with pytest.raises(ScenarioError, match="unknown step kind 'ftp'") as info:
        executor_for(step)
    assert (info.value.path, info.value.line, info.value.field) == ("x.yaml", 9, "steps[2].ftp")
