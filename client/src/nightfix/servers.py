"""The MCP server pool: start each server of ``policy.servers``, list and call its tools.

Each server runs as an MCP stdio subprocess (``command``) or is reached over streamable HTTP
(``url``). A subprocess gets only PATH/HOME (plus the MCP SDK's harmless defaults such as
USER/TERM), the variables named in ``inherit_env`` and the policy's ``env`` (with ``${VAR}``
expanded now, at start). Tools are addressed as ``server.tool``.

:meth:`ServerPool.call` is the *unchecked* call for the client's own code (sandbox lifetime,
verification gate, delivery) — within a run, use :class:`nightfix.gateway.ClientCaller`, which
audits and traces it; model calls go through :class:`nightfix.gateway.Gateway`, which checks
the policy first. Any failure of the transport — a dead process, a closed pipe,
a call past its timeout — raises :class:`~nightfix.errors.ServerError` naming the server.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, Tool
from mcp_types import CONNECTION_CLOSED

from nightfix.errors import ServerError, ToolCallError
from nightfix.policy import ServerSpec, expand_vars
from nightfix.results import structured

log = logging.getLogger(__name__)
BASE_ENV = ("PATH", "HOME")


def server_environment(spec: ServerSpec, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a stdio server is started with: PATH/HOME, ``inherit_env``, ``env``."""
    env = dict(os.environ) if environ is None else environ
    result = {name: env[name] for name in (*BASE_ENV, *spec.inherit_env) if name in env}
    result.update({key: expand_vars(value, env) for key, value in spec.env.items()})
    return result


class ServerPool:
    """Running MCP sessions by server name. Use as ``async with ServerPool(specs) as pool``."""

    def __init__(self, specs: dict[str, ServerSpec], errlog: Any = None) -> None:
        self.specs = dict(specs)
        self.sessions: dict[str, ClientSession] = {}
        self.tools: dict[str, list[Tool]] = {}
        self._stack = AsyncExitStack()
        self._errlog = errlog or sys.stderr

    async def __aenter__(self) -> ServerPool:
        try:
            for name, spec in self.specs.items():
                await self._start(name, spec)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        # No shielding scope here: the transports' own scopes were entered outside it, and the
        # SDK already shields its process shutdown (close stdin, SIGTERM, SIGKILL — bounded).
        try:
            await self._stack.aclose()
        except Exception as exc:  # a server that died leaves a broken transport behind
            log.warning("closing servers: %s", _describe(exc))

    async def _start(self, name: str, spec: ServerSpec) -> None:
        try:
            if spec.command is not None:
                argv = [expand_vars(part) for part in spec.command]
                params = StdioServerParameters(
                    command=argv[0], args=argv[1:], env=server_environment(spec)
                )
                streams = await self._stack.enter_async_context(
                    stdio_client(params, errlog=self._errlog)
                )
            else:
                assert spec.url is not None
                streams = await self._stack.enter_async_context(
                    streamable_http_client(expand_vars(spec.url))
                )
            session = await self._stack.enter_async_context(ClientSession(streams[0], streams[1]))
            # Only whole awaits go under the deadline: the contexts above stay open (their
            # cancel scopes must not nest inside one that ends here).
            with anyio.fail_after(spec.startup_timeout_s):
                await session.initialize()
                self.sessions[name] = session
                self.tools[name] = await self._list_tools(name)
        except ServerError:
            raise
        except TimeoutError as exc:
            raise ServerError(name, f"did not start within {spec.startup_timeout_s:g}s") from exc
        except Exception as exc:
            raise ServerError(name, f"could not start: {_describe(exc)}") from exc
        log.info("server %s: %d tools", name, len(self.tools[name]))

    async def _list_tools(self, name: str) -> list[Tool]:
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            params = {"cursor": cursor} if cursor else None
            result = await self.sessions[name].list_tools(params=params)  # type: ignore[arg-type]
            tools.extend(result.tools)
            cursor = result.next_cursor
            if not cursor:
                return tools

    def tool(self, server: str, tool: str) -> Tool | None:
        return next((t for t in self.tools.get(server, []) if t.name == tool), None)

    async def call_raw(
        self, server: str, tool: str, args: dict[str, Any], timeout_s: float | None = None
    ) -> CallToolResult:
        """Call ``server.tool`` unchecked (client code only).

        Transport failures raise :class:`ServerError`; a protocol-level error answer or a
        result that does not match the tool's output schema raises :class:`ToolCallError`.
        """
        session = self.sessions.get(server)
        if session is None:
            raise ServerError(server, "is not configured in the policy or not running")
        limit = self.specs[server].call_timeout_s
        if timeout_s is not None:
            limit = min(limit, timeout_s)
        try:
            with anyio.fail_after(limit):
                return await session.call_tool(tool, args)
        except TimeoutError as exc:
            raise ServerError(server, f"{tool} did not answer within {limit:g}s") from exc
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise ServerError(server, f"connection closed during {tool}") from exc
            raise ToolCallError(f"{server}.{tool}: {exc.message}") from exc
        except RuntimeError as exc:  # the SDK's output-schema validation: a malformed result
            raise ToolCallError(f"{server}.{tool} returned a malformed result: {exc}") from exc
        except Exception as exc:
            raise ServerError(server, f"{tool} failed: {_describe(exc)}") from exc

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call and return the structured result; a tool error raises ToolCallError.

        Not audited: run-bound client code uses :class:`nightfix.gateway.ClientCaller`.
        """
        return structured(server, tool, await self.call_raw(server, tool, args))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
