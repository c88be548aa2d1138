"""The launched browser as an operating-system process (Linux /proc).

Playwright does not expose the browser's pid in Python. The session launches Chromium
with a unique marker switch (`--cleanloop-session=<hex>`, ignored by Chromium), finds
the process carrying it, and remembers its process group: Playwright starts the browser
detached, so the browser, its zygote and renderers share that group and can be reaped
together. Zombies (state Z) are dead and never counted as alive.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PROC = "/proc"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str
    comm: str


def read_proc(pid: int, proc: str = PROC) -> ProcInfo | None:
    """Parse /proc/<pid>/stat; None when the process is gone."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    if len(fields) < 3:
        return None
    comm = head.partition("(")[2]
    return ProcInfo(pid=pid, state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]), comm=comm)


def _pids(proc: str = PROC) -> list[int]:
    try:
        return [int(name) for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return []


def find_marked_process(marker: str, proc: str = PROC) -> int | None:
    """The pid of the live process whose command line holds `marker` as one argument."""
    needle = marker.encode()
    for pid in _pids(proc):
        try:
            with open(f"{proc}/{pid}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if needle in args and is_alive(pid, proc):
            return pid
    return None


def is_alive(pid: int, proc: str = PROC) -> bool:
    info = read_proc(pid, proc)
    return info is not None and info.state not in ("Z", "X")


def group_members(pgid: int, proc: str = PROC) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for pid in _pids(proc):
        info = read_proc(pid, proc)
        if info is not None and info.pgid == pgid and info.state not in ("Z", "X"):
            members.append(pid)
    return members


def wait_group_gone(pgid: int, deadline: float, proc: str = PROC) -> bool:
    """Poll until no live process is left in the group or `deadline` (monotonic) passes."""
    while True:
        if not group_members(pgid, proc):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def kill_group(pgid: int, *, grace_s: float = 2.0, proc: str = PROC) -> list[int]:
    """Wait up to `grace_s` for the group to exit, then SIGKILL what is left.

    Returns the pids that were still alive when the grace period ended (empty when the
    group exited on its own).
    """
    if pgid <= 1 or pgid == os.getpgrp():
        raise ValueError(f"refusing to kill process group {pgid}")
    if wait_group_gone(pgid, time.monotonic() + grace_s, proc):
        return []
    leftover = group_members(pgid, proc)
    logger.warning("browser process group %d still has %d processes; killing", pgid,
                   len(leftover))
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return leftover
    except PermissionError as exc:
        logger.warning("cannot kill browser process group %d: %s", pgid, exc)
        return leftover
    if not wait_group_gone(pgid, time.monotonic() + grace_s, proc):
        logger.warning("browser process group %d survived SIGKILL", pgid)
    return leftover
