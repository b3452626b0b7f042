"""Every tool call the model makes passes here: policy, budgets, kill switch, audit, trace.

For each call, in this order, failing closed:

1. kill switch set → stop ``kill_switch``;
2. a budget the call would cross → stop with that budget's name;
3. the tool is not offered (not in ``tools.allow``, in ``tools.deny``, a sandbox lifetime
   tool, or a repository tool that is not read-only) → audit ``tool_denied``, stop
   ``tool_denied:<name>``;
4. the audit line ``tool_allowed`` is written (and flushed) *before* the call runs;
5. the call runs with a timeout (the server's ``call_timeout_s``, never past ``max_seconds``);
   a transport failure stops the run with ``server_error:<server>``;
6. the result is validated, redacted, capped and framed (:mod:`nightfix.results`) and traced.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from mcp.types import Tool

from nightfix.errors import ServerError, ToolCallError
from nightfix.models import ToolCall, ToolSpec
from nightfix.results import ValidatedResult, cap, validate
from nightfix.run_context import RunContext, stop
from nightfix.servers import ServerPool
from nightfix.stop_reasons import Kind

SANDBOX_ID = "sandbox_id"
CLIENT_ONLY = frozenset(
    {
        "sandbox.create_sandbox",
        "sandbox.destroy_sandbox",
        "sandbox.list_sandboxes",
        "github.list_pull_request_feedback",
    }
)
"""Tools the model never gets, whatever the policy says: the client owns sandbox lifetimes,
and reads reviewers' feedback itself (a follow-up's task carries the one comment, fenced)."""


def never_for_model(name: str, tool: Tool) -> bool:
    """Client-only tools, and any repository tool not annotated read-only (writes are ours)."""
    if name in CLIENT_ONLY:
        return True
    read_only = bool(tool.annotations and tool.annotations.read_only_hint)
    return name.startswith("github.") and not read_only


def model_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema the model sees: for sandbox tools, without ``sandbox_id``."""
    if not name.startswith("sandbox."):
        return schema
    schema = copy.deepcopy(schema)
    schema.get("properties", {}).pop(SANDBOX_ID, None)
    if SANDBOX_ID in schema.get("required", []):
        schema["required"] = [r for r in schema["required"] if r != SANDBOX_ID]
    return schema


class Gateway:
    """The policy-checked path from a model's tool call to an MCP server."""

    def __init__(self, ctx: RunContext, pool: ServerPool, sandbox_id: str | None) -> None:
        self.ctx = ctx
        self.pool = pool
        self.sandbox_id = sandbox_id
        self.offered: dict[str, ToolSpec] = {}
        allow = ctx.policy.tools
        for server, tools in sorted(pool.tools.items()):
            for tool in tools:
                name = f"{server}.{tool.name}"
                if allow.allows(name) and not never_for_model(name, tool):
                    schema = model_schema(name, tool.input_schema)
                    self.offered[name] = ToolSpec(name, tool.description or "", schema)

    def tool_specs(self) -> list[ToolSpec]:
        return list(self.offered.values())

    async def call(self, call: ToolCall) -> ValidatedResult:
        """Run one model tool call through every check; raises StopRun to end the run."""
        ctx, budget = self.ctx, self.ctx.budget
        ctx.check_kill_switch()
        exceeded = budget.check_tool_call()
        if exceeded is not None:
            ctx.audit_event("budget_exceeded", budget=exceeded.value, snapshot=budget.snapshot())
            raise stop(exceeded, message=f"{exceeded.value} reached before calling {call.name}")
        args_digest = hashlib.sha256(
            json.dumps(call.input, sort_keys=True, default=str).encode()
        ).hexdigest()
        if call.name not in self.offered:
            shown = call.name[:120]
            ctx.audit_event("tool_denied", tool=shown, args_sha256=args_digest)
            ctx.trace.write(
                "tool_call", id=call.id, name=shown, input=call.input, decision="denied"
            )
            raise stop(Kind.TOOL_DENIED, shown, f"the policy does not allow {shown}")
        server, _, tool = call.name.partition(".")
        args = dict(call.input)
        if server == "sandbox" and SANDBOX_ID in self.pool_schema(server, tool):
            args[SANDBOX_ID] = self.sandbox_id
        ctx.audit_event("tool_allowed", tool=call.name, args_sha256=args_digest)
        ctx.trace.write(
            "tool_call", id=call.id, name=call.name, input=call.input, decision="allowed"
        )
        budget.tool_calls += 1
        started = budget.elapsed
        try:
            raw = await self.pool.call_raw(
                server, tool, args, timeout_s=max(budget.remaining_seconds(), 0.001)
            )
            result = validate(raw, ctx.redactor, ctx.policy.traces.max_tool_result_chars)
        except ToolCallError as exc:
            result = cap(ctx.redactor.text(str(exc)), ctx.policy.traces.max_tool_result_chars, True)
        except ServerError as exc:
            if budget.remaining_seconds() <= 0:
                raise stop(Kind.MAX_SECONDS, message=f"{call.name} ran past max_seconds") from exc
            ctx.audit_event("server_error", server=server, tool=call.name)
            raise stop(Kind.SERVER_ERROR, server, ctx.redactor.text(str(exc))) from exc
        ctx.trace.write(
            "tool_result",
            id=call.id,
            name=call.name,
            content=result.text,
            is_error=result.is_error,
            truncated=result.truncated,
            duration_s=round(budget.elapsed - started, 4),
        )
        return result

    def pool_schema(self, server: str, tool: str) -> dict[str, Any]:
        found = self.pool.tool(server, tool)
        return found.input_schema.get("properties", {}) if found else {}


class ClientCaller:
    """The client's own calls within a run (sandbox lifetime, verification, delivery).

    Not subject to the model's allowlist, but audited (``client_call`` line written before
    the call) and traced like every other call. Returns the structured result; a tool error
    raises :class:`ToolCallError`, a dead server :class:`ServerError`.
    """

    def __init__(self, ctx: RunContext, pool: ServerPool) -> None:
        self.ctx = ctx
        self.pool = pool

    async def call(self, server: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        name = f"{server}.{tool}"
        digest = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()
        self.ctx.audit_event("client_call", tool=name, args_sha256=digest)
        self.ctx.trace.write("event", name="client_call", tool=name, input=args)
        try:
            result = await self.pool.call(server, tool, args)
        except (ToolCallError, ServerError) as exc:
            self.ctx.trace.write("event", name="client_call_failed", tool=name, error=str(exc))
            raise
        self.ctx.trace.write("event", name="client_call_result", tool=name, result=result)
        return result
