from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from cleanloop.loop.base.spawn import spawn_group

PAUSE = [sys.executable, "-c", "import signal; signal.pause()"]


def test_a_child_started_normally_is_in_its_own_group() -> None:
    proc = spawn_group(PAUSE)
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_ctrl_c_while_the_child_is_created_kills_it_then_interrupts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen
    started: list[int] = []

    def popen_then_ctrl_c(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        os.kill(os.getpid(), signal.SIGINT)   # the user presses Ctrl-C right now
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        spawn_group(PAUSE)
    [pid] = started
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)   # killed and reaped: no orphan (the autouse fixture checks too)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
