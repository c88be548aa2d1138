"""An OTLP/HTTP receiver on loopback: the app's SDK exports traces, metrics and logs here.

    receiver = OtlpReceiver()
    receiver.start()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint   # SDK posts /v1/traces ...
    ...
    receiver.stop(deadline)
    tables = receiver.drain()   # {"spans": Columns, "logs": Columns, "metrics": Columns}

Protobuf and JSON bodies, gzip/deflate, Content-Length or chunked. Decoding runs in
the request thread; rows go through a `BoundedIntake`. Every refusal is answered and
counted, and the server keeps serving: malformed -> 400, unsupported media -> 415,
too large -> 413, unknown path -> 404, intake full or stopping -> 503 (rows dropped).

`activity()` is a thread-safe snapshot of the intake per table (rows accepted, the monotonic
time of the last request, requests in flight, the newest metric point's time_unix_nano):
the session waits on it for the app's last export before stopping the app
(cleanloop.loop.run.quiesce).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cleanloop.collectors.base import BoundedIntake
from cleanloop.loop.base import schema
from cleanloop.loop.base.errors import CollectorError
from cleanloop.loop.base.schema import Columns

if TYPE_CHECKING:
    from types import ModuleType

logger = logging.getLogger(__name__)

Decoder = Callable[[bytes, str], Columns]

#: request path -> (table, decoder name in cleanloop.collectors.otlp_decode)
ROUTES: dict[str, tuple[str, str]] = {
    "/v1/traces": ("spans", "decode_traces"),
    "/v1/logs": ("logs", "decode_logs"),
    "/v1/metrics": ("metrics", "decode_metrics"),
}


def _decoding() -> ModuleType:
    """The protobuf decoders load on the first export, not when the receiver starts
    (so the app under test is spawned sooner)."""
    from cleanloop.collectors import otlp_decode

    return otlp_decode
_MAX_CHUNK_LINE = 1024


#: a refused body of up to this size is read and discarded so the connection stays usable
_DISCARD_MAX = 64 * 1024 * 1024
READ, UNREAD, BROKEN = "read", "unread", "broken"
TABLES = ("spans", "logs", "metrics")


@dataclass(frozen=True)
class IntakeActivity:
    """What the receiver has taken in so far, per table (one consistent snapshot)."""

    #: rows accepted into the intake
    rows: Mapping[str, int]
    #: time.monotonic() when the last request to the table's route began or ended
    #: (absent: none yet)
    last_arrival: Mapping[str, float]
    #: requests to the table's route being read or decoded right now
    in_flight: Mapping[str, int]
    #: the newest time_unix_nano of the metric points accepted (0: none yet)
    latest_metric_ns: int

    def last_of(self, tables: tuple[str, ...]) -> float | None:
        """The latest arrival over `tables` (None: nothing arrived there yet)."""
        times = [self.last_arrival[t] for t in tables if t in self.last_arrival]
        return max(times) if times else None


class _Refusal:
    """An HTTP refusal decided while reading a request (returned, not raised).

    `body` says what is left on the connection: READ (nothing), UNREAD (the body, to be
    discarded) or BROKEN (the stream is out of sync: close the connection).
    """

    __slots__ = ("status", "reason", "body")

    def __init__(self, status: int, reason: str, body: str = READ) -> None:
        self.status, self.reason, self.body = status, reason, body


def _empty_table(table: str) -> Columns:
    return {f.name: [] for f in schema.TABLES[table] if f.name != "repeat"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's session reuses connections
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.receiver._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.receiver._track(self.connection, add=False)

    def do_POST(self) -> None:  # http.server naming
        self.server.receiver._handle_post(self)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.server.receiver._reply(self, 405 if path in ROUTES else 404, "text/plain",
                                    b"POST only" if path in ROUTES else b"not found")

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("OTLP receiver %s: %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn); loopback needs none of that
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that vanished mid-request is not worth a traceback on stderr
        logger.debug("OTLP receiver: connection from %s failed", client_address, exc_info=True)


class OtlpReceiver:
    """OTLP/HTTP receiver implementing the Collector protocol (name "otlp")."""

    name = "otlp"

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 max_body_bytes: int = 8 * 1024 * 1024, max_batches: int = 4096) -> None:
        self.host, self.port, self.max_body_bytes = host, port, max_body_bytes
        self._intake = BoundedIntake("otlp-intake", max_batches)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._closing = False
        self._connections: set[socket.socket] = set()
        self._rows = dict.fromkeys(TABLES, 0)
        self._last_arrival: dict[str, float] = {}
        self._in_flight_by_table = dict.fromkeys(TABLES, 0)
        self._latest_metric_ns = 0
        self._counts = {"received": 0, "rejected": 0, "requests": 0, "bytes": 0,
                        "too_large": 0, "not_found": 0, "unavailable": 0}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """Base URL for OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:4318."""
        if self._server is None:
            raise CollectorError("OTLP receiver: endpoint asked before start()")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            message = f"OTLP receiver cannot bind {self.host}:{self.port}: {exc}"
            raise CollectorError(message) from exc
        self._intake.start()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="cleanloop-otlp-http", daemon=True)
        self._thread.start()
        logger.info("OTLP receiver listening on %s", self.endpoint)

    def stop(self, deadline: float) -> None:
        """Stop accepting, finish in-flight requests, close connections, flush the intake."""
        if self._stopped or self._server is None:
            self._stopped = True
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        with self._idle:
            self._closing = True
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            connections = list(self._connections)
        for conn in connections:  # wake idle keep-alive handlers; each closes its own socket
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._intake.stop(deadline)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        logger.info("OTLP receiver stopped: %s", dict(self.stats()))

    def __enter__(self) -> OtlpReceiver:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop(time.monotonic() + 5.0)

    def drain(self) -> dict[str, Columns]:
        tables = self._intake.drain()
        return {t: tables.get(t) or _empty_table(t) for t in ("spans", "logs", "metrics")}

    def row_count(self, table: str) -> int:
        """Rows of `table` (spans, logs, metrics) collected so far and not drained."""
        return self._intake.row_count(table)

    def peek(self, table: str, start: int = 0) -> Columns:
        """A copy of `table`'s rows from row `start` on, without draining them: a read-only
        view of what the app sent so far (rows still queued in the intake are not in it yet)."""
        rows = self._intake.peek(table, start)
        return rows or _empty_table(table)

    def stats(self) -> Mapping[str, int]:
        with self._lock:
            counts = dict(self._counts)
        counts["dropped"] = self._intake.stats.dropped
        return counts

    def activity(self) -> IntakeActivity:
        """A snapshot of the intake per table; safe to call from any thread, at any time."""
        with self._lock:
            return IntakeActivity(dict(self._rows), dict(self._last_arrival),
                                  dict(self._in_flight_by_table), self._latest_metric_ns)

    # -- request path (runs in the handler threads) --------------------------------------------
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _handle_post(self, h: _Handler) -> None:
        with self._lock:
            if self._closing:
                closing = True
            else:
                closing = False
                self._in_flight += 1
                self._counts["requests"] += 1
        if closing:
            self._count("unavailable")
            self._skip_body(h)
            self._reply(h, 503, "text/plain", b"receiver stopping")
            return
        try:
            self._serve_post(h)
        finally:
            with self._idle:
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.notify_all()

    def _serve_post(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        route = ROUTES.get(path)
        if route is None:
            self._count("not_found")
            logger.warning("OTLP receiver: POST to unknown path %r -> 404", path)
            self._skip_body(h)
            self._reply(h, 404, "text/plain", b"not found")
            return
        table, decoder_name = route
        self._arrival(table, +1)
        try:
            self._serve_table(h, table, decoder_name)
        finally:
            self._arrival(table, -1)

    def _arrival(self, table: str, delta: int) -> None:
        """A request to `table`'s route begins (+1) or ends (-1)."""
        with self._lock:
            self._in_flight_by_table[table] += delta
            self._last_arrival[table] = time.monotonic()

    def _serve_table(self, h: _Handler, table: str, decoder_name: str) -> None:
        content_type = h.headers.get("Content-Type", "")
        decoding = _decoding()
        decode: Decoder = getattr(decoding, decoder_name)
        fmt = decoding.payload_format(content_type)
        if fmt is None:
            self._refuse(h, _Refusal(415, f"unsupported Content-Type {content_type!r}", UNREAD))
            return
        body = self._read_body(h)
        if isinstance(body, _Refusal):
            self._refuse(h, body)
            return
        self._count("bytes", len(body))
        try:
            columns = decode(body, content_type)
        except decoding.DecodeError as exc:
            self._refuse(h, _Refusal(400, str(exc)))
            return
        except Exception as exc:  # a decoder bug must not take the receiver down
            logger.exception("OTLP receiver: decoding %s failed", h.path)
            self._refuse(h, _Refusal(400, f"cannot decode: {exc!r}"))
            return
        rows = len(next(iter(columns.values()))) if columns else 0
        if rows:
            newest = max(columns.get("ts_ns") or [0]) if table == "metrics" else 0
            with self._lock:  # offer() counts drops without a lock of its own
                accepted = self._intake.offer(table, columns, rows)
                if accepted:
                    self._counts["received"] += rows
                    self._rows[table] += rows
                    self._latest_metric_ns = max(self._latest_metric_ns, newest)
                else:
                    self._counts["unavailable"] += 1
            if not accepted:
                self._reply(h, 503, "text/plain", b"intake full", retry_after=True)
                return
        if fmt == decoding.JSON:
            self._reply(h, 200, "application/json", b"{}")
        else:
            self._reply(h, 200, "application/x-protobuf", b"")

    def _read_body(self, h: _Handler) -> bytes | _Refusal:
        limit = self.max_body_bytes
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked(h, limit)
            if isinstance(raw, _Refusal):
                return raw
        else:
            try:
                length = int(h.headers.get("Content-Length", "0"))
            except ValueError:
                return _Refusal(400, "invalid Content-Length", BROKEN)
            if length < 0:
                return _Refusal(400, "invalid Content-Length", BROKEN)
            if length > limit:
                return _Refusal(413, f"body of {length} bytes exceeds {limit}", UNREAD)
            raw = h.rfile.read(length)
            if len(raw) < length:
                return _Refusal(400, "body shorter than Content-Length", BROKEN)
        return self._decompress(h.headers.get("Content-Encoding", "").lower(), raw, limit)

    @staticmethod
    def _read_chunked(h: _Handler, limit: int) -> bytes | _Refusal:
        parts: list[bytes] = []
        total = 0
        while True:
            line = h.rfile.readline(_MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return _Refusal(400, "malformed chunked encoding", BROKEN)
            if size == 0:
                while h.rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                return _Refusal(413, f"chunked body exceeds {limit} bytes", BROKEN)
            parts.append(h.rfile.read(size))
            h.rfile.readline(_MAX_CHUNK_LINE)

    @staticmethod
    def _decompress(encoding: str, raw: bytes, limit: int) -> bytes | _Refusal:
        if encoding in ("", "identity"):
            return raw
        if encoding == "gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            inflater = zlib.decompressobj()
        else:
            return _Refusal(415, f"unsupported Content-Encoding {encoding!r}")
        try:
            out = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            return _Refusal(400, f"invalid {encoding} body: {exc}")
        if len(out) > limit:
            return _Refusal(413, f"decompressed body exceeds {limit} bytes")
        if not inflater.eof:
            return _Refusal(400, f"truncated {encoding} body")
        return out

    def _refuse(self, h: _Handler, refusal: _Refusal) -> None:
        with self._lock:
            self._counts["rejected"] += 1
            if refusal.status == 413:
                self._counts["too_large"] += 1
        logger.warning("OTLP receiver: %s %s -> %d: %s", h.command, h.path, refusal.status,
                       refusal.reason)
        if refusal.body == UNREAD:
            self._skip_body(h)
        elif refusal.body == BROKEN:
            h.close_connection = True
        self._reply(h, refusal.status, "text/plain", refusal.reason.encode("utf-8", "replace"))

    @staticmethod
    def _skip_body(h: _Handler) -> None:
        """Discard an unread request body so the keep-alive connection stays in sync;
        close the connection instead when the body is chunked, unsized or huge."""
        chunked = h.headers.get("Transfer-Encoding", "").lower() == "chunked"
        try:
            length = int(h.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if chunked or not 0 <= length <= _DISCARD_MAX:
            h.close_connection = True
            return
        while length > 0:
            got = len(h.rfile.read(min(length, 1 << 20)))
            if not got:
                h.close_connection = True
                return
            length -= got

    @staticmethod
    def _reply(h: _Handler, status: int, content_type: str, body: bytes,
               retry_after: bool = False) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        if retry_after:
            h.send_header("Retry-After", "1")
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)
