"""The `local` launcher: the app as a process on this machine (the default).

It implements the Launcher protocol (cleanloop.loop.run.launchers.base). The child runs in
its own process group (session); teardown is SIGTERM to the whole group, then SIGKILL after
a grace period, on every exit path.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from cleanloop.collectors.process_logs import ProcessLogCapture
from cleanloop.loop.base.errors import LaunchError
from cleanloop.loop.base.spawn import spawn_group
from cleanloop.loop.run.launchers.base import AppHandle, LaunchPlan

logger = logging.getLogger(__name__)


class LocalProcess:
    """Runs `command` (shell-split, no shell) in `cwd` in a new process group."""

    def __init__(self, command: str, cwd: Path, port: int, capture: ProcessLogCapture,
                 stop_timeout_s: float = 5.0) -> None:
        self.argv = shlex.split(command)
        self.cwd = cwd
        self.port = port
        self.capture = capture
        self.stop_timeout_s = stop_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_plan(cls, plan: LaunchPlan) -> LocalProcess:
        """The registry's factory: the scenario's command in its cwd under the project."""
        return cls(plan.command, plan.cwd, plan.port, plan.capture,
                   stop_timeout_s=plan.spec.stop_timeout_s)

    def start(self, env: Mapping[str, str]) -> AppHandle:
        logger.info("launching %s in %s", shlex.join(self.argv), self.cwd)
        try:
            self._proc = spawn_group(
                self.argv, cwd=self.cwd, env=dict(env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise LaunchError(f"cannot start the app ({shlex.join(self.argv)} in {self.cwd}): "
                              f"{exc.strerror or exc}") from exc
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self.capture.attach(self._proc.stdout, "stdout")
        self.capture.attach(self._proc.stderr, "stderr")
        return AppHandle(self._proc.pid, time.monotonic(), f"http://127.0.0.1:{self.port}",
                         self.port)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exited_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for the app to exit; True if it did."""
        if self._proc is None:
            return False
        try:
            self._proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def logs(self, lines: int = 20) -> str:
        return self.capture.tail(lines)

    def stop(self) -> int | None:
        """SIGTERM the group, wait, SIGKILL the group. Returns the exit code. Idempotent."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("app did not stop within %.1fs, killing it", self.stop_timeout_s)
        # the leader may be gone while other members of its group live on
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        return proc.returncode

    def close(self) -> None:
        """Close our ends of the pipes, once the log capture has read them to EOF."""
        if self._proc is not None:
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
