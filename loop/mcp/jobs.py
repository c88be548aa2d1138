"""Measurements of one MCP server: one at a time, observable, cancellable.

A measurement (run_scenario, verify, verify_start) boots apps and times them, so two of them at
once would measure each other: an abandoned verify that kept booting apps once made the next
call's p95 come out 571 ms instead of about 220 ms. Here every measurement is a Job on its own
thread, and Jobs take one measurement slot in turn: a call made while another measurement runs
is **queued** (its progress says behind what), never run alongside it. At most MAX_WAITING
measurements wait; one more is refused with a clear error.

Each Job has a cancel token. Its JobProgress is the Progress the core reports to; at every
`checkpoint()` (before a boot, a step, a run) a set token raises Cancelled, a KeyboardInterrupt,
so the core takes its Ctrl-C paths: apps and browsers stopped, worktrees removed.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from cleanloop.loop.base.errors import Cancelled, UsageError
from cleanloop.loop.run.progress import Progress

T = TypeVar("T")
JobState = Literal["queued", "running", "done", "failed", "cancelled"]
MAX_WAITING = 4        # measurements queued behind the running one before new ones are refused
KEEP_FINISHED = 20     # finished jobs kept for verify_status
SLOT_POLL_S = 0.2      # how often a queued job looks at its cancel token


class JobProgress:
    """A Progress that keeps the phases for the client and stops at a cancelled checkpoint.

    A phase of the job's own layer (one starting with `headline_prefix`, e.g. "verify shop:
    candidate run 2/6 | the estimate") becomes the headline; the app's phases under it
    ("run 2: booting the app") are reported with the headline in front, so every message says
    which side and run it belongs to."""

    def __init__(self, label: str, headline_prefix: str | None = None) -> None:
        self.label = label
        self.headline_prefix = headline_prefix
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._text = "queued"
        self._headline = ""
        self._updates = 0
        self._pending: deque[tuple[int, str]] = deque(maxlen=200)
        self._notes: deque[str] = deque(maxlen=20)

    def phase(self, text: str) -> None:
        with self._lock:
            if self.headline_prefix and text.startswith(self.headline_prefix):
                self._headline = text
            elif self._headline:
                text = f"{self._headline} · {text}"
            self._text = text
            self._updates += 1
            self._pending.append((self._updates, text))

    def drain(self) -> list[tuple[int, str]]:
        """The phases not yet taken, oldest first, each with its update number."""
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        return out

    def note(self, text: str) -> None:
        with self._lock:
            self._notes.append(text)
            self._updates += 1

    def checkpoint(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(f"{self.label} was cancelled")

    def close(self) -> None:
        pass

    def latest(self) -> tuple[int, str]:
        """(number of updates so far, the current phase)."""
        with self._lock:
            return self._updates, self._text

    def notes(self) -> list[str]:
        with self._lock:
            return list(self._notes)


@dataclass
class Job(Generic[T]):
    id: str
    kind: str
    description: str
    progress: JobProgress
    future: Future[T] = field(default_factory=Future)
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None

    @property
    def state(self) -> JobState:
        """queued | running | done | failed | cancelled"""
        if not self.future.done():
            return "queued" if self.started is None else "running"
        exc = self.future.exception()
        if exc is None:
            return "done"
        return "cancelled" if isinstance(exc, Cancelled) else "failed"

    def cancel(self) -> None:
        self.progress.cancelled.set()

    def wait(self, timeout_s: float) -> bool:
        """True when the job ended (and cleaned up) within `timeout_s`."""
        try:
            self.future.exception(timeout=max(0.0, timeout_s))
        except TimeoutError:
            return False
        return True

    def elapsed_s(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return round(end - self.created, 3)


class Measurements:
    """The measurement jobs of one server and the one slot they take in turn."""

    def __init__(self) -> None:
        self._slot = threading.Lock()
        self._lock = threading.Lock()
        self._jobs: dict[str, Job[Any]] = {}
        self._running: Job[Any] | None = None

    def submit(self, kind: str, description: str, work: Callable[[Progress], T],
               headline_prefix: str | None = None) -> Job[T]:
        """Start `work(progress)` on its own thread once the slot is free; returns at once.
        `headline_prefix`: see JobProgress."""
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.state == "queued"]
            if len(waiting) >= MAX_WAITING:
                raise UsageError(f"{len(waiting)} measurements are already queued behind "
                                 f"{self._describe_running()}; wait for one to finish or "
                                 "cancel it")
            job: Job[T] = Job(secrets.token_hex(4), kind, description,
                              JobProgress(f"{kind} {description}", headline_prefix))
            self._jobs[job.id] = job
            self._forget_old()
        thread = threading.Thread(target=self._run, args=(job, work), daemon=True,
                                  name=f"cleanloop-{kind}-{job.id}")
        thread.start()
        return job

    def get(self, job_id: str) -> Job[Any]:
        with self._lock:
            job = self._jobs.get(job_id)
            known = sorted(self._jobs)
        if job is None:
            raise UsageError(f"no job {job_id!r} (known: {', '.join(known) or 'none'})")
        return job

    def active(self) -> list[Job[Any]]:
        with self._lock:
            return [j for j in self._jobs.values() if not j.future.done()]

    def cancel_all(self) -> list[Job[Any]]:
        """Set every unfinished job's cancel token; returns those jobs."""
        jobs = self.active()
        for job in jobs:
            job.cancel()
        return jobs

    # -- internals -------------------------------------------------------------------------
    def _run(self, job: Job[T], work: Callable[[Progress], T]) -> None:
        try:
            self._take_slot(job)
        except BaseException as exc:
            job.finished = time.monotonic()
            job.future.set_exception(exc)
            return
        try:
            job.started = time.monotonic()
            job.progress.phase(f"{job.kind} {job.description}: starting")
            result = work(job.progress)
        except BaseException as exc:
            job.finished = time.monotonic()
            job.future.set_exception(exc)
        else:
            job.finished = time.monotonic()
            job.future.set_result(result)
        finally:
            with self._lock:
                self._running = None
            self._slot.release()

    def _take_slot(self, job: Job[Any]) -> None:
        while not self._slot.acquire(timeout=SLOT_POLL_S):
            job.progress.checkpoint()
            with self._lock:
                behind = self._describe_running()
            job.progress.phase(f"queued behind {behind}: one measurement at a time")
        try:
            job.progress.checkpoint()
        except BaseException:
            self._slot.release()
            raise
        with self._lock:
            self._running = job

    def _describe_running(self) -> str:
        job = self._running
        if job is None:
            return "another measurement"
        return f"{job.kind} {job.description} (job {job.id}, {job.elapsed_s():.0f} s so far)"

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.future.done()),
                          key=lambda j: j.created)
        for job in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            self._jobs.pop(job.id, None)
