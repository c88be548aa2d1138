"""Readiness waits: an HTTP URL answering < 500, a TCP port accepting, or a log line.

Each wait polls a condition with a short, growing interval until a deadline and
gives up early when `alive()` says the process is gone.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

Alive = Callable[[], bool]


def _poll(condition: Callable[[], bool], deadline: float, alive: Alive) -> bool:
    interval = 0.005
    while True:
        if condition():
            return True
        if not alive() or time.monotonic() >= deadline:
            return condition() if alive() else False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 0.05)


def wait_http(url: str, deadline: float, alive: Alive) -> bool:
    import httpx  # loaded after the app is spawned, while it boots

    from cleanloop.loop.base.http_client import loopback_client

    with loopback_client(timeout=1.0) as client:
        def ready() -> bool:
            try:
                return client.get(url).status_code < 500
            except httpx.HTTPError:
                return False

        return _poll(ready, deadline, alive)


def wait_port(host: str, port: int, deadline: float, alive: Alive) -> bool:
    def ready() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return _poll(ready, deadline, alive)


def wait_log(wait_for: Callable[[re.Pattern[str], float], bool], pattern: str, deadline: float,
             alive: Alive) -> bool:
    regex = re.compile(pattern)
    while alive() and time.monotonic() < deadline:
        if wait_for(regex, min(0.1, max(0.0, deadline - time.monotonic()))):
            return True
    return wait_for(regex, 0.0)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
