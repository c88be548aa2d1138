"""Which repository the MCP tools work in, when the client cannot set the server's working
directory: the first `file://` root the client announces.

Order: `cleanloop mcp --repo DIR` (pinned, never changed) > the client's first root that is an
existing directory > the server's working directory. Roots are asked for at the first tool
call (a server may not send requests while `initialize` is handled) and again after the
client's `notifications/roots/list_changed`. A client without the roots capability, or one
that does not answer within ROOTS_TIMEOUT_S, keeps the working directory; this is logged.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning

logger = logging.getLogger(__name__)

ROOTS_TIMEOUT_S = 5.0


class RepoHost(Protocol):
    cwd: Path
    repo_pinned: bool


def directory_of(uri: str) -> Path | None:
    """The local directory a `file://` root names, or None (another scheme, missing dir)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parsed.path))
    return path.resolve() if path.is_dir() else None


class RepoFromRoots:
    """Server middleware that points `host.cwd` at the client's first root."""

    def __init__(self, host: RepoHost) -> None:
        self.host = host
        self._asked = False

    async def __call__(self, ctx: ServerRequestContext[Any, Any],
                       call_next: CallNext) -> HandlerResult:
        if ctx.method == "notifications/roots/list_changed":
            self._asked = False
        elif ctx.method == "tools/call" and not self.host.repo_pinned and not self._asked:
            self._asked = True
            await self._ask(ctx)
        return await call_next(ctx)

    async def _ask(self, ctx: ServerRequestContext[Any, Any]) -> None:
        caps = ctx.session.client_capabilities
        if caps is None or caps.roots is None:
            return
        try:
            with warnings.catch_warnings(), anyio.fail_after(ROOTS_TIMEOUT_S):
                warnings.simplefilter("ignore", MCPDeprecationWarning)  # we know; still served
                result = await ctx.session.list_roots()
        except Exception as exc:  # noqa: BLE001 - a client that cannot answer keeps the cwd
            logger.warning("mcp: could not list the client's roots (%s); working in %s",
                           exc, self.host.cwd)
            return
        for root in result.roots:
            directory = directory_of(str(root.uri))
            if directory is not None:
                if directory != self.host.cwd:
                    logger.info("mcp: working in %s (the client's root)", directory)
                self.host.cwd = directory
                return
        logger.warning("mcp: none of the client's roots is a local directory; working in %s",
                       self.host.cwd)
