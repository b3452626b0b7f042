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

import asyncio
import logging
import os
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, CallToolResult, PaginatedRequestParams, Tool

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
        self._errlog = errlog or sys.stderr
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> ServerPool:
        """Start every server concurrently, each owned by its own task (see :meth:`_serve`)."""
        loop = asyncio.get_running_loop()
        ready: list[asyncio.Future[None]] = []
        for name, spec in self.specs.items():
            started: asyncio.Future[None] = loop.create_future()
            ready.append(started)
            self._tasks.append(asyncio.create_task(self._serve(name, spec, started)))
        try:
            outcomes = await asyncio.gather(*ready, return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise failed[0]
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every server (close stdin, then SIGTERM/SIGKILL — bounded, done by the SDK)."""
        self._closing.set()
        closing = asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            # A signal cancelled the task closing us (``watch`` on SIGTERM). Cancelling the
            # server tasks mid-close would tear the SDK's cancel scopes apart (and could leave a
            # server process running): let the bounded close finish, then go on cancelling.
            await closing
            raise

    async def _serve(self, name: str, spec: ServerSpec, started: asyncio.Future[None]) -> None:
        """Own one server's transport and session from start to close, in this one task.

        The SDK's transports hold anyio cancel scopes that must be entered and left by the same
        task; a task per server lets servers start in parallel and be closed independently.
        """
        try:
            async with AsyncExitStack() as stack:
                await self._start(stack, name, spec)
                started.set_result(None)
                await self._closing.wait()
        except BaseException as exc:
            if not started.done():
                error = exc if isinstance(exc, ServerError) else ServerError(name, _describe(exc))
                started.set_exception(error)
            else:  # a server that died leaves a broken transport behind
                log.warning("closing server %s: %s", name, _describe(exc))

    async def _start(self, stack: AsyncExitStack, name: str, spec: ServerSpec) -> None:
        try:
            if spec.command is not None:
                argv = [expand_vars(part) for part in spec.command]
                params = StdioServerParameters(
                    command=argv[0], args=argv[1:], env=server_environment(spec)
                )
                streams = await stack.enter_async_context(stdio_client(params, errlog=self._errlog))
            else:
                assert spec.url is not None
                headers = {k: expand_vars(v) for k, v in spec.headers.items()}
                http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
                streams = await stack.enter_async_context(
                    streamable_http_client(expand_vars(spec.url), http_client=http)
                )
            session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
            # Only whole awaits go under the deadline: the contexts above stay open (their
            # cancel scopes must not nest inside one that ends here).
            with anyio.fail_after(spec.startup_timeout_s):
                await session.initialize()
                tools = await _list_tools(session)
        except ServerError:
            raise
        except TimeoutError as exc:
            raise ServerError(name, f"did not start within {spec.startup_timeout_s:g}s") from exc
        except Exception as exc:
            raise ServerError(name, f"could not start: {_describe(exc)}") from exc
        self.sessions[name], self.tools[name] = session, tools
        log.info("server %s: %d tools", name, len(tools))

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


async def _list_tools(session: ClientSession) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await session.list_tools(params=params)
        tools.extend(result.tools)
        cursor = result.next_cursor
        if not cursor:
            return tools


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
