"""Process log capture against a real child process writing to stdout and stderr."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cleanloop.collectors.process_logs import ProcessLogCapture, parse_line, text_level
from cleanloop.loop.base.schema import Columns

CHILD = r"""
import json, sys
out, err = sys.stdout, sys.stderr
print(json.dumps({"level": "warning", "msg": "disk low", "trace_id": "AB" * 16,
                  "spanId": "cd" * 8, "free_mb": 12}), file=out, flush=True)
print("INFO:werkzeug:GET / 200", file=err, flush=True)
print("Traceback (most recent call last):", file=err, flush=True)
print("ERROR in app: payment failed", file=err, flush=True)
print(json.dumps({"severity": "ERROR", "message": "boom"}), file=out, flush=True)
print("server ready on port 1234", file=out, flush=True)
sys.stdin.readline()
print("bye", file=out, end="", flush=True)
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    with subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def _rows(cols: Columns) -> list[dict[str, object]]:
    return [dict(zip(cols, values, strict=True)) for values in zip(*cols.values(), strict=True)]


def _finish(proc: subprocess.Popen[bytes], capture: ProcessLogCapture) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"\n")
    proc.stdin.close()
    proc.wait(10)
    capture.stop(time.monotonic() + 10.0)


def test_capture_parses_json_and_text_lines(child: subprocess.Popen[bytes],
                                           tmp_path: Path) -> None:
    capture = ProcessLogCapture(tmp_path / "run" / "app.log", service="shop")
    assert child.stdout is not None and child.stderr is not None
    capture.attach(child.stdout, "stdout")
    capture.attach(child.stderr, "stderr")
    assert capture.wait_for(re.compile(r"ready on port \d+"), timeout=30)
    assert capture.wait_for(re.compile(r"payment failed"), timeout=30)  # already captured
    _finish(child, capture)
    rows = {str(r["message"]): r for r in _rows(capture.drain()["logs"])}
    assert set(rows) == {"disk low", "INFO:werkzeug:GET / 200",
                         "Traceback (most recent call last):", "ERROR in app: payment failed",
                         "boom", "server ready on port 1234", "bye"}
    disk = rows["disk low"]
    assert (disk["level"], disk["source"], disk["service"]) == ("warning", "stdout", "shop")
    assert (disk["trace_id"], disk["span_id"]) == ("ab" * 16, "cd" * 8)
    assert json.loads(str(disk["attributes"])) == {"free_mb": 12}
    assert rows["boom"]["level"] == "error"
    assert rows["INFO:werkzeug:GET / 200"]["source"] == "stderr"
    assert {m: rows[m]["level"] for m in rows if rows[m]["source"] == "stderr"} == {
        "INFO:werkzeug:GET / 200": "info", "Traceback (most recent call last):": "error",
        "ERROR in app: payment failed": "error"}
    assert all(r["severity_number"] == 0 and int(r["ts_ns"]) > 0  # type: ignore[call-overload]
               for r in rows.values())
    app_log = (tmp_path / "run" / "app.log").read_text().splitlines()
    text_lines = {m for m in rows if m not in ("disk low", "boom")}
    json_lines = {line for line in app_log if line.startswith("{")}
    assert len(app_log) == 7 and set(app_log) - json_lines == text_lines
    assert {json.loads(line).get("msg") or json.loads(line)["message"]
            for line in json_lines} == {"disk low", "boom"}
    assert capture.stats()["received"] == 7 and capture.stats()["dropped"] == 0


def test_wait_for_times_out_then_returns_false_once_streams_end(
        child: subprocess.Popen[bytes], tmp_path: Path) -> None:
    capture = ProcessLogCapture(tmp_path / "app.log")
    assert child.stdout is not None and child.stderr is not None
    capture.attach(child.stdout, "stdout")
    capture.attach(child.stderr, "stderr")
    assert capture.wait_for(re.compile("ready"), timeout=30)
    assert capture.wait_for(re.compile("payment failed"), timeout=30)  # stderr caught up too
    assert capture.wait_for(re.compile("never printed"), timeout=0.05) is False
    assert child.stdin is not None
    child.stdin.write(b"\n")
    child.stdin.close()
    child.wait(10)
    assert capture.wait_for(re.compile("never printed"), timeout=600) is False  # EOF ends it
    assert capture.tail(1) == "bye"  # printed after every other line was captured
    assert len(capture.tail(2).splitlines()) == 2 and len(capture.tail(100).splitlines()) == 7
    assert capture.tail(0) == ""
    capture.stop(time.monotonic() + 10.0)
    capture.stop(time.monotonic() + 10.0)  # idempotent


def test_row_cap_drops_rows_but_app_log_keeps_every_line(
        child: subprocess.Popen[bytes], tmp_path: Path) -> None:
    capture = ProcessLogCapture(tmp_path / "app.log", max_rows=3)
    assert child.stdout is not None and child.stderr is not None
    capture.attach(child.stdout, "stdout")
    capture.attach(child.stderr, "stderr")
    assert capture.wait_for(re.compile("ready"), timeout=30)
    _finish(child, capture)
    assert len(capture.drain()["logs"]["message"]) == 3
    assert capture.stats()["dropped"] == 4
    assert len((tmp_path / "app.log").read_text().splitlines()) == 7


@pytest.mark.parametrize(("line", "level"), [
    ("2024-01-01 12:00:00 WARNING something odd", "warning"),
    ('ts=1 level=error msg="db down"', "error"),
    ("[CRITICAL] out of memory", "critical"),
    ("KeyError: 'x' while handling", "info"),
    ("just words", "info"),
    ("DEBUG detail", "debug"),
])
def test_text_level_guess(line: str, level: str) -> None:
    assert text_level(line) == level


def test_json_line_variants() -> None:
    assert parse_line('{"levelname": "CRITICAL", "event": "x", "otelTraceID": "AA"}')[:3] == \
        ("critical", "x", "aa")
    assert parse_line('{"level": 50, "msg": "pino error"}')[:2] == ("error", "pino error")
    level, message, _, _, attrs = parse_line('{"no": "message"}')
    assert (level, message, attrs) == ("info", '{"no": "message"}', '{"no":"message"}')
    assert parse_line("{not json}")[1] == "{not json}"
    assert parse_line("[1, 2]")[4] == "{}"
