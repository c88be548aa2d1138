"""Which MCP client a tool call comes from, so a live session is driven only by the client
that started it.

A client is identified by what stays the same across its requests:

- the server's **lifespan state**: the MCP SDK enters the server's lifespan once per
  connection of an in-process client and once per `cleanloop mcp` process on stdio (one
  client), and the default lifespan yields a fresh dict, in which a random client token is
  kept (`CLIENT_TOKEN`);
- the **`mcp-session-id` header** of a streamable-HTTP session, where one lifespan serves
  many clients.

A stateless HTTP deployment (the 2026 protocol without sessions) has neither: every caller
is then the same client, and a session id (random, returned by start_app only to its
caller) is what keeps another caller out.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from typing import Any

from mcp.server.mcpserver import Context

#: the key under which a connection's lifespan dict keeps the client's token
CLIENT_TOKEN = "cleanloop.client"
#: the identity of calls made without a request context (in-process calls, tests)
LOCAL_CLIENT = "local"


def client_of(ctx: Context[Any, Any] | None) -> str:
    """A stable identity of the client that made this request."""
    if ctx is None:
        return LOCAL_CLIENT
    try:
        request = ctx.request_context
    except ValueError:  # outside a request
        return LOCAL_CLIENT
    lifespan = request.lifespan_context
    if isinstance(lifespan, MutableMapping):
        token = str(lifespan.setdefault(CLIENT_TOKEN, secrets.token_hex(8)))
    else:
        token = f"lifespan-{id(lifespan):x}"
    headers = getattr(request.request, "headers", None)
    http_session = headers.get("mcp-session-id") if headers is not None else None
    return f"{token}/{http_session}" if http_session else token
