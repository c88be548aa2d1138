"""Polling a condition with a deadline: the only way tests wait (never a bare sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_INTERVAL_S = 0.02


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """True as soon as `condition()` holds; its last value once `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_INTERVAL_S)
    return condition()
