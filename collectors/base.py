"""The Collector contract and a bounded, counted intake shared by implementations.

A collector takes telemetry in while the app runs. It must never crash the run:
bad input is counted and logged, and a full queue drops (and counts) instead of
growing without bound. Everything is flushed under one shared deadline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cleanloop.loop.base.schema import Columns, append_columns

logger = logging.getLogger(__name__)

@runtime_checkable
class Collector(Protocol):
    """start() begins intake, stop(deadline) flushes until `deadline` (time.monotonic()),
    drain() hands over every table collected so far (and forgets it)."""

    name: str

    def start(self) -> None: ...

    def stop(self, deadline: float) -> None: ...

    def drain(self) -> dict[str, Columns]: ...

    def stats(self) -> Mapping[str, int]: ...


@dataclass
class IntakeStats:
    received: int = 0
    rejected: int = 0
    dropped: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "rejected": self.rejected,
                "dropped": self.dropped, **self.extra}




class BoundedIntake:
    """A named daemon thread fed by a bounded queue of (table, columns) batches.

    `offer()` never blocks: when the queue is full the batch is dropped and counted.
    """

    def __init__(self, name: str, max_batches: int = 4096) -> None:
        self.name = name
        self.stats = IntakeStats()
        self._queue: queue.Queue[tuple[str, Columns] | None] = queue.Queue(max_batches)
        self._tables: dict[str, Columns] = {}
        self._lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"cleanloop-{name}", daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def offer(self, table: str, columns: Columns, rows: int) -> bool:
        try:
            self._queue.put_nowait((table, columns))
        except queue.Full:
            with self._stats_lock:
                self.stats.dropped += rows
            logger.warning("%s: intake queue full, dropped %d rows", self.name, rows)
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            table, columns = item
            with self._lock:
                append_columns(self._tables.setdefault(table, {}), columns)

    def stop(self, deadline: float) -> None:
        if not self._started:
            return
        try:
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            logger.warning("%s: could not flush before the deadline", self.name)
            return
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            logger.warning("%s: flush did not finish before the deadline", self.name)

    def drain(self) -> dict[str, Columns]:
        with self._lock:
            tables, self._tables = self._tables, {}
        return tables

    def row_count(self, table: str) -> int:
        """Rows of `table` taken in so far (and not drained)."""
        with self._lock:
            columns = self._tables.get(table)
            return len(next(iter(columns.values()), [])) if columns else 0

    def peek(self, table: str, start: int = 0) -> Columns:
        """A copy of `table`'s rows from row `start` on, without draining them ({} when
        there are none yet)."""
        with self._lock:
            columns = self._tables.get(table) or {}
            return {name: values[start:] for name, values in columns.items()}
