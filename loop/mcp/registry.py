"""How cleanloop's MCP tools are declared: a title, a description, honest hints, strict arguments.

Every tool is built with `tool(...)`, which

- sets the annotations a client uses to decide what needs the user's approval:
  `readOnlyHint` for tools that only look (query, list_failures, screenshot ...),
  `destructiveHint=False` for the rest (they add files under `.cleanloop/` and never modify the
  user's tree), `openWorldHint=False` everywhere (only the local app and repository);
- refuses unknown arguments: a misspelt argument is a validation error naming it, never a
  silently ignored option that runs a full scenario with the defaults.

The server (cleanloop.loop.mcp.server) passes the built tools to `MCPServer(tools=...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import ToolAnnotations
from pydantic import ConfigDict

T = TypeVar("T")


def tool(fn: Callable[..., Any], *, title: str, description: str, read_only: bool,
         idempotent: bool = False, name: str | None = None) -> Tool:
    """An MCP tool for `fn` whose argument model forbids unknown arguments."""
    annotations = ToolAnnotations(
        title=title, read_only_hint=read_only,
        destructive_hint=None if read_only else False,
        idempotent_hint=None if read_only else idempotent,
        open_world_hint=False)
    built = Tool.from_function(fn, name=name or fn.__name__, title=title,
                               description=description, annotations=annotations)
    strict: type[ArgModelBase] = type(
        built.fn_metadata.arg_model.__name__, (built.fn_metadata.arg_model,),
        {"model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True),
         "__module__": __name__})
    built.fn_metadata.arg_model = strict
    built.parameters = strict.model_json_schema(by_alias=True)
    return built


class ToolHost(Protocol):
    """What a group of tools needs from the server: where it works and how blocking work runs."""

    #: the user's repository (the server's working directory, `--repo`, or the client's root)
    cwd: Path
    #: the environment the command line read once
    env: dict[str, str]

    async def job(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread; a CleanloopError becomes a tool error."""
        ...
