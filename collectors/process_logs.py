"""Capture a child process's stdout/stderr: app.log on disk, `logs` rows in memory.

    capture = ProcessLogCapture(run_dir / "app.log", service="shop")
    proc = subprocess.Popen(cmd, stdout=PIPE, stderr=PIPE)
    capture.attach(proc.stdout, "stdout")
    capture.attach(proc.stderr, "stderr")
    capture.wait_for(re.compile(r"Running on"), timeout=10)   # readiness by log line
    ...
    capture.stop(deadline)            # joins the readers (the pipes end when the process exits)
    rows = capture.drain()["logs"]

Every line goes to app.log (both streams interleaved, flushed per line; nothing is
dropped there). Each line also becomes a row: a JSON object line gives its level,
message, trace/span ids and the remaining keys as attributes; any other line is text
whose level is guessed (ERROR, WARN, Traceback, level=error ...). Rows beyond
`max_rows` are dropped and counted. The capture owns an attached stream and closes
it at EOF.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

from cleanloop.loop.base.schema import Columns, normalise_level

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20  # a longer line is split into several rows
LEVEL_KEYS = ("level", "severity", "levelname", "lvl", "log.level", "loglevel")
MESSAGE_KEYS = ("message", "msg", "event")
TRACE_KEYS = ("trace_id", "traceId", "trace.id", "otelTraceID")
SPAN_KEYS = ("span_id", "spanId", "span.id", "otelSpanID")
#: numeric levels as pino/bunyan write them (10 trace ... 60 fatal)
_NUMERIC_LEVELS = ((55, "critical"), (45, "error"), (35, "warning"), (25, "info"), (15, "debug"))
_TEXT_LEVEL = re.compile(
    r"\b(CRITICAL|FATAL|PANIC|ERROR|ERR|SEVERE|WARNING|WARN|INFO|NOTICE|DEBUG|TRACE)\b")
_KEY_LEVEL = re.compile(r"\b(?:level|severity|lvl)[=:]\s*\"?([A-Za-z]+)", re.IGNORECASE)
_COLUMNS = ("ts_ns", "source", "level", "severity_number", "message", "trace_id", "span_id",
            "service", "attributes")


def _empty() -> Columns:
    return {c: [] for c in _COLUMNS}


def text_level(line: str) -> str:
    """Guess the level of a plain-text log line (info when nothing says otherwise)."""
    if "Traceback (most recent call last)" in line:
        return "error"
    m = _KEY_LEVEL.search(line) or _TEXT_LEVEL.search(line)
    return normalise_level(m.group(1)) if m else "info"


def _json_level(value: Any) -> str:
    if isinstance(value, str):
        return normalise_level(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        for floor, name in _NUMERIC_LEVELS:
            if value >= floor:
                return name
        return "trace"
    return "info"


def _pop_first(doc: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in doc:
            return doc.pop(key)
    return None


def parse_line(line: str) -> tuple[str, str, str, str, str]:
    """A log line as (level, message, trace_id, span_id, attributes JSON)."""
    stripped = line.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            level = _json_level(_pop_first(doc, LEVEL_KEYS))
            message = _pop_first(doc, MESSAGE_KEYS)
            trace_id = _pop_first(doc, TRACE_KEYS)
            span_id = _pop_first(doc, SPAN_KEYS)
            return (
                level,
                line if message is None else message if isinstance(message, str)
                else json.dumps(message, default=str),
                "" if trace_id is None else str(trace_id).lower(),
                "" if span_id is None else str(span_id).lower(),
                json.dumps(doc, default=str, separators=(",", ":")),
            )
    return text_level(line), line, "", "", "{}"


class ProcessLogCapture:
    """Collector (name "process") for the stdout/stderr pipes of the app under test."""

    name = "process"

    def __init__(self, log_path: Path, service: str = "", max_rows: int = 200_000,
                 tail_lines: int = 1000) -> None:
        self.log_path, self.service, self.max_rows = Path(log_path), service, max_rows
        self._cond = threading.Condition()
        self._rows = _empty()
        self._recent: deque[tuple[int, str]] = deque(maxlen=tail_lines)
        self._seq = 0
        self._counts = {"received": 0, "dropped": 0, "lines": 0, "late": 0}
        self._file: BinaryIO | None = None
        self._readers: list[threading.Thread] = []
        self._stopped = False

    def start(self) -> None:
        with self._cond:
            if self._file is None and not self._stopped:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.log_path, "ab")  # closed in stop()

    def attach(self, stream: IO[bytes], source: str) -> None:
        """Read `stream` (a child's stdout/stderr pipe) on a daemon thread until EOF."""
        self.start()
        reader = threading.Thread(target=self._read, args=(stream, source),
                                  name=f"cleanloop-{source}-reader", daemon=True)
        with self._cond:
            self._readers.append(reader)
        reader.start()

    def _read(self, stream: IO[bytes], source: str) -> None:
        try:
            while raw := stream.readline(MAX_LINE_BYTES):
                self._capture(raw, source)
        except (OSError, ValueError) as exc:  # the pipe was closed under us
            logger.debug("%s reader stopped: %s", source, exc)
        finally:
            try:
                stream.close()
            except OSError:
                pass
            with self._cond:
                self._cond.notify_all()  # wait_for() returns early once every reader ended

    def _capture(self, raw: bytes, source: str) -> None:
        ts_ns = time.time_ns()
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        level, message, trace_id, span_id, attributes = parse_line(line)
        with self._cond:
            if self._stopped:
                self._counts["late"] += 1
                return
            if self._file is not None:
                self._file.write(raw if raw.endswith(b"\n") else raw + b"\n")
                self._file.flush()
            self._counts["lines"] += 1
            self._seq += 1
            self._recent.append((self._seq, line))
            if len(self._rows["ts_ns"]) < self.max_rows:
                for column, value in zip(
                    _COLUMNS,
                    (ts_ns, source, level, 0, message, trace_id, span_id, self.service,
                     attributes),
                    strict=True,
                ):
                    self._rows[column].append(value)
                self._counts["received"] += 1
            else:
                self._counts["dropped"] += 1
            self._cond.notify_all()

    def _readers_done(self) -> bool:
        return bool(self._readers) and not any(r.is_alive() for r in self._readers)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> bool:
        """Block until a captured line (already captured ones included, within the kept
        tail) matches `pattern`. False at the timeout, or as soon as every stream ended."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._cond:
            while True:
                for seq, line in reversed(self._recent):
                    if seq <= checked:
                        break
                    if pattern.search(line):
                        return True
                checked = self._seq
                if self._readers_done():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def tail(self, n: int = 20) -> str:
        """The last `n` captured lines (both streams), newline-joined."""
        with self._cond:
            lines = [line for _, line in self._recent]
        return "\n".join(lines[-n:] if n > 0 else [])

    def stop(self, deadline: float) -> None:
        """Join the readers until `deadline`, then close app.log. Idempotent."""
        with self._cond:
            readers = list(self._readers)
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        alive = sum(r.is_alive() for r in readers)
        if alive:
            logger.warning("process log capture: %d reader(s) still open at the deadline", alive)
        with self._cond:
            self._stopped = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def drain(self) -> dict[str, Columns]:
        with self._cond:
            rows, self._rows = self._rows, _empty()
        return {"logs": rows}

    def row_count(self) -> int:
        """Log rows captured so far and not drained."""
        with self._cond:
            return len(self._rows["ts_ns"])

    def peek(self, start: int = 0) -> Columns:
        """A copy of the log rows from row `start` on, without draining them."""
        with self._cond:
            return {name: values[start:] for name, values in self._rows.items()}

    def stats(self) -> Mapping[str, int]:
        with self._cond:
            return dict(self._counts)
