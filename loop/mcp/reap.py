"""Processes the MCP server started and that outlive it: found from /proc, their groups killed.

The server's own process group is never signalled as a group (the client may share it).
"""

from __future__ import annotations

import logging
import os
import signal
import time

from cleanloop.probes.browser_process import read_proc

logger = logging.getLogger(__name__)


def descendants(pid: int) -> list[int]:
    """Live descendants of `pid` (from /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = read_proc(int(entry))
            if info is not None and info.state not in ("Z", "X"):
                children.setdefault(info.ppid, []).append(info.pid)
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def reap_descendants(grace_s: float) -> list[int]:
    """SIGTERM every process this one started (their whole groups), SIGKILL after `grace_s`.

    Returns the pids that were found. Our own process group is never signalled as a group.
    """
    found = descendants(os.getpid())
    if not found:
        return []
    logger.warning("mcp: %d child process(es) still running at exit; stopping them", len(found))
    _signal_all(found, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.02)
    _signal_all([p for p in found if _alive(p)], signal.SIGKILL)
    return found


def _alive(pid: int) -> bool:
    info = read_proc(pid)
    return info is not None and info.state not in ("Z", "X")


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    own = os.getpgrp()
    for pid in pids:
        info = read_proc(pid)
        try:
            if info is not None and info.pgid not in (own, 0, 1):
                os.killpg(info.pgid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
