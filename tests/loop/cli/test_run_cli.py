"""`cleanloop run` end to end through the CLI, in-process, with real child processes."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from cleanloop.loop.cli.main import main

SERVER = textwrap.dedent("""\
    import http.server, json, os, sys
    mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/crash":
                print(json.dumps({"level": "error", "message": "fatal: crashing on purpose"}),
                      flush=True)
                os._exit(7)
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a):
            print(json.dumps({"level": "info", "message": "request " + self.path}), flush=True)
    print("booting; mode=" + mode, flush=True)
    if mode == "never-ready":
        print("ERROR cannot reach the database at db:5432", flush=True)
        import signal
        while True:
            signal.pause()
    if mode == "exit":
        print("Traceback: boom", file=sys.stderr, flush=True)
        sys.exit(3)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """)


def scenario(tmp_path: Path, mode: str = "ok", steps: str = "  - http: {path: /}\n",
             extra_app: str = "", checks: str = "") -> Path:
    (tmp_path / "server.py").write_text(SERVER)
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: tiny\napp:\n"
        f'  command: "{{python}} server.py {{port}} {mode}"\n'
        "  ready: {http: /}\n  timeout: 3s\n  stop_timeout: 2s\n" + extra_app
        + "steps:\n" + steps + (f"checks:\n{checks}" if checks else ""))
    return path


def test_passing_run_writes_the_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, checks="  - logs(level >= error).count == 0\n"
                                     "  - app.startup < 60s\n"
                                     '  - logs(message ~ "request /").count >= 1\n')
    assert main(["run", str(path), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verdict"] == "pass"
    assert [c["ok"] for c in verdict["checks"]] == [True, True, True]
    run_dir = Path(verdict["artifacts"]["run_dir"])
    for name in ("spans.parquet", "logs.parquet", "metrics.parquet", "browser.parquet",
                 "app.log", "scenario.yaml", "verdict.json"):
        assert (run_dir / name).exists(), name
    assert "booting" in (run_dir / "app.log").read_text()
    assert (tmp_path / ".cleanloop" / ".gitignore").read_text() == "*\n"


def test_failing_check_exits_1_with_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, steps="  - http: {path: /a}\n  - http: {path: /b}\n",
                    checks='  - logs(message ~ "request").count == 0\n')
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  tiny")
    assert "✗ logs(message ~ \"request\").count == 0" in out
    assert "request /a" in out


def test_app_that_never_becomes_ready_exits_3_with_log_tail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario(tmp_path, "never-ready"))]) == 3
    err = capsys.readouterr().err
    assert "did not become ready" in err and "within 3s" in err
    assert "cannot reach the database at db:5432" in err


def test_app_that_exits_at_boot_exits_3_with_log_tail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario(tmp_path, "exit"))]) == 3
    err = capsys.readouterr().err
    assert "exited with code 3 before it became ready" in err
    assert "Traceback: boom" in err


def test_app_crash_mid_run_fails_the_run_and_stops_the_steps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    steps = "  - http: {path: /}\n  - http: {path: /crash}\n  - http: {path: /never}\n"
    assert main(["run", str(scenario(tmp_path, steps=steps)), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    run = verdict["runs"][0]
    assert run["crashed"] is True and run["exit_code"] == 7
    assert [s["name"] for s in run["steps"]] == ["http:GET /", "http:GET /crash"]
    crash = [c for c in verdict["checks"] if c["check"] == "app.crashed == 0"]
    assert crash and not crash[0]["ok"]
    assert "fatal: crashing on purpose" in verdict["artifacts"]["app_log_tail"]


def test_port_already_in_use_is_an_infrastructure_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        path = scenario(tmp_path, extra_app=f"  port: {port}\n")
        assert main(["run", str(path)]) == 3
    assert f"port {port}" in capsys.readouterr().err


def test_malformed_scenario_exits_2_naming_line_and_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, steps="  - load: {path: /, requests: -1}\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8: field 'steps[0].load.requests'" in err


def test_query_runs_sql_over_the_last_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario(tmp_path, steps="  - http: {path: /x}\n"))]) == 0
    capsys.readouterr()
    assert main(["query", "last", "SELECT message FROM logs WHERE message LIKE 'request%'",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"message": "request /x"} in rows
    assert main(["query", "last", "SELECT nope FROM spans"]) == 2
    assert "query failed" in capsys.readouterr().err


def test_python_placeholder_is_this_interpreter() -> None:
    from cleanloop.loop.run.launchers import format_command

    assert format_command("{python} x --port {port}", 81) == f"{sys.executable} x --port 81"


def test_repeat_boots_the_app_each_time_and_tags_every_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = scenario(tmp_path, steps="  - http: {path: /r}\n",
                    checks='  - logs(message ~ "request /r").count == 1\n'
                           "  - app.startup < 60s\n")
    assert main(["run", str(path), "--repeat", "3", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert [r["repeat"] for r in verdict["runs"]] == [0, 1, 2]
    assert all(r["startup_ms"] > 0 for r in verdict["runs"])
    zero_like = verdict["checks"][0]
    assert zero_like["values"] == [1.0, 1.0, 1.0]
    run_dir = Path(verdict["artifacts"]["run_dir"])
    assert (run_dir / "app.log").read_text().count("booting") == 3
    from cleanloop.loop.store.query import query_run

    _, rows = query_run(run_dir, "SELECT repeat, count(*) FROM logs "
                                 "WHERE message = 'request /r' GROUP BY 1 ORDER BY 1")
    assert rows == [(0, 1), (1, 1), (2, 1)]
    assert main(["run", str(path), "--repeat", "0"]) == 2


def test_run_from_a_subdirectory_of_a_git_repository_stores_at_its_top(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_env: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    service = tmp_path / "services" / "tiny"
    service.mkdir(parents=True)
    scenario(service)
    monkeypatch.chdir(service)
    assert main(["run", "s.yaml", "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out)["artifacts"]["run_dir"])
    assert run_dir.parent == tmp_path / ".cleanloop" / "runs"
    assert not (service / ".cleanloop").exists()
    # and `last` finds it from anywhere in the repository
    monkeypatch.chdir(tmp_path / "services")
    assert main(["query", "last", "SELECT count(*) AS n FROM logs WHERE message LIKE 'booting%'",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": 1}]
