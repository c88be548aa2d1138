"""Run `cleanloop` in a child process and press Ctrl-C once a phase is reached."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def interrupt_at(args: Sequence[str], cwd: Path, marker: str | re.Pattern[str],
                 before_signal: Callable[[], None] | None = None,
                 occurrence: int = 1) -> tuple[int, str]:
    """Start `python -m cleanloop -v ARGS`, SIGINT it when `marker` (a substring or a regex)
    shows on stderr (its INFO log) for the `occurrence`-th time, wait for it to exit.
    Returns (exit code, the rest of stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "cleanloop", "-v", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    hits = 0
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            hits += bool(marker.search(line) if isinstance(marker, re.Pattern)
                         else marker in line)
            if hits == occurrence:
                if before_signal is not None:
                    before_signal()
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("phase marker never appeared:\n" + "".join(seen[-20:]))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, "".join(seen[-10:]) + err
