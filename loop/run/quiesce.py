"""Quiesce: after the last step, wait (bounded) for the app's last telemetry before stopping it.

An app on the plain OpenTelemetry SDK exports from batch processors (spans, logs) and a
periodic metric reader. SIGTERM's default action ends a Python process without running the
SDK's exit-time flush, so whatever the processors still held when the app was stopped would
be lost. Before the stop the session therefore waits until

- **spans and logs are quiet**: no request in flight and none for longer than the app's
  batch delay (times QUIET_FACTOR) since the later of the last step's end and the last
  span or log request; a batch processor exports what it holds at least once per delay,
  so a quiet window that long means nothing is left;
- **metrics are current**: when the app sends OTLP metrics at all, a point collected at or
  after the moment the last step ended (time_unix_nano >= that moment) has arrived. A
  periodic reader exports every interval forever, so metrics are never "quiet"; a point
  collected after the last step carries the final values.

The wait polls the receiver every POLL_S and ends as soon as both hold, when the app exits,
or at the bound (BOUND_INTERVALS export intervals, at most MAX_WAIT_S; logged), so an app
with a long custom delay or one that never stops exporting does not stall the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cleanloop.collectors.otlp_receiver import TABLES, IntakeActivity
from cleanloop.loop.base.envvars import METRIC_INTERVALS, TRACE_LOG_DELAYS, export_interval_s

logger = logging.getLogger(__name__)

#: spans and logs count as quiet after this many batch delays without a request
QUIET_FACTOR = 1.5
#: the wait ends after this many export intervals at most ...
BOUND_INTERVALS = 8
#: ... and never after more than this many seconds
MAX_WAIT_S = 2.0
#: how often the receiver's activity is looked at
POLL_S = 0.02

QUIET, BOUND, EXITED, SKIPPED = "quiet", "bound", "exited", "skipped"
QUIET_TABLES = ("spans", "logs")


@dataclass(frozen=True)
class Window:
    """How long spans and logs must be quiet, and the longest wait."""

    quiet_s: float
    bound_s: float

    @classmethod
    def for_env(cls, env: Mapping[str, str]) -> Window:
        """The window for the export intervals the app was given (its environment)."""
        delay = export_interval_s(env, TRACE_LOG_DELAYS)
        interval = max(delay, export_interval_s(env, METRIC_INTERVALS))
        return cls(quiet_s=QUIET_FACTOR * delay,
                   bound_s=min(MAX_WAIT_S, BOUND_INTERVALS * interval))


@dataclass(frozen=True)
class Mark:
    """The moment the last step ended, and what the receiver had taken in by then."""

    mono: float
    wall_ns: int
    activity: IntakeActivity

    @classmethod
    def now(cls, activity: IntakeActivity) -> Mark:
        return cls(time.monotonic(), time.time_ns(), activity)

    def rows_since(self, later: IntakeActivity) -> dict[str, int]:
        """Rows per table taken in between this mark and `later`."""
        return {t: later.rows.get(t, 0) - self.activity.rows.get(t, 0) for t in TABLES}


@dataclass(frozen=True)
class Outcome:
    """How the wait ended: QUIET, BOUND (logged) or EXITED (the app ended meanwhile)."""

    outcome: str
    waited_ms: float
    pending: str = ""


def pending(activity: IntakeActivity, mark: Mark, window: Window, now: float) -> str:
    """What is still awaited ("" when nothing is)."""
    busy = [t for t in TABLES if activity.in_flight.get(t)]
    if busy:
        return f"an export of {'/'.join(busy)} is being received"
    last = max(mark.mono, activity.last_of(QUIET_TABLES) or mark.mono)
    if now - last <= window.quiet_s:
        return f"spans or logs arrived within the last {window.quiet_s * 1000:.0f} ms"
    if activity.rows.get("metrics", 0) and activity.latest_metric_ns < mark.wall_ns:
        return "no metric point collected after the last step has arrived"
    return ""


def wait_for_last_export(activity: Callable[[], IntakeActivity], mark: Mark, window: Window,
                         alive: Callable[[], bool]) -> Outcome:
    """Poll `activity` until nothing is pending, the app exits, or the bound is reached."""
    deadline = mark.mono + window.bound_s
    while True:
        now = time.monotonic()
        what = pending(activity(), mark, window, now)
        waited_ms = (now - mark.mono) * 1000
        if not what:
            return Outcome(QUIET, waited_ms)
        if not alive():
            return Outcome(EXITED, waited_ms, what)
        if now >= deadline:
            logger.warning("stopping the app after waiting %.0f ms for its last telemetry: "
                           "%s (the last exports may be missing)", waited_ms, what)
            return Outcome(BOUND, waited_ms, what)
        time.sleep(min(POLL_S, max(0.0, deadline - now)))
