"""MCP resources: the run directories and the table schemas, for clients that browse them."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from cleanloop.loop.mcp.registry import ToolHost


def register_resources(server: MCPServer[Any], host: ToolHost) -> None:
    """Add cleanloop's resources to `server` (run directories, table schemas)."""
    del server, host
