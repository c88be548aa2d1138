"""A loopback HTTP server for the browser tests: serves this directory plus test APIs.

    /api/fail          -> 500
    /api/traceparent   -> {"traceparent": <header received or null>} (CORS open)
Every request's traceparent header is remembered in `PageServer.seen` as (path, value).
"""

from __future__ import annotations

import functools
import json
import socket
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PAGES = Path(__file__).resolve().parent


class _Handler(SimpleHTTPRequestHandler):
    server_ref: PageServer

    def do_GET(self) -> None:
        self.server_ref.record(self.path, self.headers.get("traceparent"))
        if self.path.startswith("/api/fail"):
            self._send(500, b'{"error": "boom"}')
        elif self.path.startswith("/api/traceparent"):
            body = json.dumps({"traceparent": self.headers.get("traceparent")}).encode()
            self._send(200, body)
        else:
            super().do_GET()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that navigates away mid-response is normal, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class PageServer:
    """ThreadingHTTPServer on 127.0.0.1:<ephemeral> in a daemon thread."""

    def __init__(self, root: Path = PAGES) -> None:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._server = _QuietServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="browser-test-pages", daemon=True)
        self._lock = threading.Lock()
        self.seen: list[tuple[str, str | None]] = []
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, path: str, traceparent: str | None) -> None:
        with self._lock:
            self.seen.append((path, traceparent))

    def traceparents(self, prefix: str) -> list[str | None]:
        with self._lock:
            return [value for path, value in self.seen if path.startswith(prefix)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
