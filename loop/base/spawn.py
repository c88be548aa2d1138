"""Start a child in its own process group without losing it to a Ctrl-C.

A KeyboardInterrupt raised while `subprocess.Popen` runs (after the fork, before the
caller holds the handle) would leave a child nobody stops. Here SIGINT is only noted
while the child is created; once the handle exists the child's group is killed and the
interrupt is raised then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any


def spawn_group(argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(argv, start_new_session=True, **popen_kwargs)`, Ctrl-C safe."""
    if threading.current_thread() is not threading.main_thread():
        return subprocess.Popen(list(argv), start_new_session=True, **popen_kwargs)
    pressed: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        pressed.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        proc: subprocess.Popen[bytes] = subprocess.Popen(list(argv), start_new_session=True,
                                                         **popen_kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise KeyboardInterrupt
    return proc
