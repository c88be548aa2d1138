"""Live progress on a terminal (rich, on stderr); silence otherwise.

Output stays quiet and machine-readable when stdout is not a TTY or --json is given.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # rich loads only when there is a terminal to draw on
    from rich.console import Console
    from rich.status import Status


class Progress(Protocol):
    def phase(self, text: str) -> None: ...

    def note(self, text: str) -> None: ...

    def checkpoint(self) -> None:
        """A safe point to stop (before a boot, a step, a run): raises Cancelled when the
        caller cancelled the work. Never called while a stop or cleanup is under way."""
        ...

    def close(self) -> None: ...


class QuietProgress:
    def phase(self, text: str) -> None:
        del text

    def note(self, text: str) -> None:
        del text

    def checkpoint(self) -> None:
        pass

    def close(self) -> None:
        pass


class LiveProgress:
    """A one-line spinner with the current phase; notes scroll above it."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._status: Status | None = None

    def phase(self, text: str) -> None:
        if self._status is None:
            self._status = self.console.status(text)
            self._status.start()
        else:
            self._status.update(text)

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def checkpoint(self) -> None:
        pass  # Ctrl-C at a terminal arrives as KeyboardInterrupt on its own

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def progress_for(json_output: bool) -> Progress:
    if json_output or not sys.stdout.isatty() or not sys.stderr.isatty():
        return QuietProgress()
    return LiveProgress()


@contextlib.contextmanager
def progress_while(json_output: bool) -> Iterator[Progress]:
    """The right Progress for this output, closed (the live line cleared) on every exit."""
    progress = progress_for(json_output)
    try:
        yield progress
    finally:
        progress.close()
