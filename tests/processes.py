"""Find live processes by their command line (for orphans that left our process tree)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def _live() -> Iterator[tuple[int, bytes]]:
    """(pid, raw cmdline) of every process that is not a zombie."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            yield int(entry.name), cmd


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid, raw in _live():
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in cmd:
            found.append(f"{pid}: {cmd[:200]}")
    return found


def chromium_pids() -> set[int]:
    """Processes whose executable is a Chromium/Chrome."""
    return {pid for pid, raw in _live() if b"chrom" in raw.split(b"\0")[0]}
