"""The one exception tree of cleanloop, and the single mapping to exit codes.

    CleanloopError
     ├── UsageError          bad command-line use                         -> exit 2
     │    └── RevisionError a revision the user named does not exist, or a path is not in
     │                      the repository at it (--base nosuchref, a scenario not committed
     │                      there); also a WorktreeError, as the git helpers raise only those
     ├── ScenarioError       malformed scenario / check text (file, line, field) -> exit 2
     ├── InfrastructureError the world failed us                          -> exit 3
     │    ├── LaunchError    the app never became ready / died at boot / port in use
     │    ├── ProbeError     a probe could not run (browser missing, crashed)
     │    ├── CollectorError a collector could not start
     │    └── WorktreeError  git worktree could not be created / removed
     ├── AgentError          a coding agent could not be run               -> exit 3
     └── GateError           the gate was given inconsistent data          -> exit 3

A failed check is a result value (see cleanloop.loop.model.verdict), never an exception.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INCONCLUSIVE = 4
EXIT_INTERRUPTED = 130


class CleanloopError(Exception):
    """Root of every error cleanloop raises on purpose."""

    exit_code = EXIT_INFRA


class UsageError(CleanloopError):
    exit_code = EXIT_USAGE


class ScenarioError(CleanloopError):
    """A scenario (or a check inside it) is malformed.

    The message always names the file, and the line and field when known.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = path or "<scenario>"
        if line is not None:
            where += f":{line}"
        if field:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class InfrastructureError(CleanloopError):
    exit_code = EXIT_INFRA


class LaunchError(InfrastructureError):
    """The app under test could not be started or did not become ready."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        self.log_tail = log_tail
        text = message
        if log_tail:
            text += "\n--- last lines of the app's log ---\n" + log_tail.rstrip("\n")
        super().__init__(text)


class ProbeError(InfrastructureError):
    """A probe (browser, HTTP) could not run at all. A failed step is a result, not this."""


class CollectorError(InfrastructureError):
    """A collector could not start."""


class WorktreeError(InfrastructureError):
    """A git worktree could not be created or removed."""


class RevisionError(UsageError, WorktreeError):
    """A revision the user named does not exist, or a path is not in the repository at it.

    The user's input is wrong, not the world: exit 2. It is a WorktreeError too, because the
    git helpers (cleanloop.loop.vcs.git) raise only those, and callers that handle git
    failures catch them.
    """

    exit_code = EXIT_USAGE


class AgentError(CleanloopError):
    exit_code = EXIT_INFRA


class GateError(CleanloopError):
    exit_code = EXIT_INFRA


class Cancelled(KeyboardInterrupt):
    """The caller cancelled this call (an MCP client's `notifications/cancelled`, a client gone).

    It is a KeyboardInterrupt on purpose: a cancelled call takes exactly the paths Ctrl-C takes
    (apps and browsers stopped, worktrees removed, nothing half-written kept), and no
    `except Exception` on the way can mistake it for a failed step. Raised only at
    `Progress.checkpoint()`, the safe points between steps, boots and runs.
    """


def exit_code_for(exc: BaseException) -> int:
    """The one place errors become exit codes."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, CleanloopError):
        return exc.exit_code
    return EXIT_INFRA
