"""What autonomy code needs from the client's MCP server pool: one audited call."""

from __future__ import annotations

from typing import Any, Protocol


class ToolCaller(Protocol):
    """Calls ``server.tool(args)`` for client code (not the model); returns the structured result.

    A tool error raises (the pool's ``ToolError``-like exception); a dead server raises too.
    """

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]: ...
