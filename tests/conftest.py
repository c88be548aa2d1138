"""Shared fixtures: every test must leave no child process behind."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

POLL_INTERVAL_S = 0.05


def descendants(pid: int) -> set[int]:
    """All live descendants of `pid`, from /proc (zombies excluded)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if state != "Z":
            children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def _describe(pids: set[int]) -> str:
    lines = []
    for pid in sorted(pids):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "?"
        lines.append(f"  {pid}: {cmd[:160]}")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def no_orphan_processes() -> Iterator[None]:
    """Fail the test if it leaves child processes running (waits briefly for exits)."""
    before = descendants(os.getpid())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        left = descendants(os.getpid()) - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    assert not left, "the test left child processes running:\n" + _describe(left)


from tests.repo_state import git_env  # noqa: E402,F401  (fixture shared by the git tests)
