"""The agent loop: one investigation of one error issue, bounded by the policy.

:func:`run_investigation` is the whole run: kill switch, servers, pinned tool definitions,
the run's sandbox (created by the client, destroyed in ``finally``), then model turns until the
model calls ``finish`` or a stop reason ends it. ``nightfix watch`` calls it with its own
:class:`RunContext` and ``finalize=False`` to continue the same run (gate, delivery).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio

from nightfix import pinning
from nightfix.budgets import Usage
from nightfix.errors import ModelError, ServerError
from nightfix.finish import FINISH, Summary, parse_summary
from nightfix.gateway import ClientCaller, Gateway
from nightfix.models import Message, Model, ModelTurn, ToolCall, ToolResult, ToolResults, UserText
from nightfix.policy import Policy
from nightfix.prompts import render
from nightfix.redaction import Redactor
from nightfix.run_context import RunContext, StopRun, stop
from nightfix.run_sandbox import collect_and_destroy, create_sandbox
from nightfix.servers import ServerPool
from nightfix.stop_reasons import Kind, StopReason

log = logging.getLogger(__name__)
SHOWN_GLOBS = 12
SETUP_NOTE_CHARS = 600


@dataclass
class RunResult:
    run_id: str
    stop_reason: StopReason
    summary: dict[str, Any] | None = None
    diff: str = ""
    base_commit: str | None = None
    ref: str | None = None
    files_changed: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    tool_calls: int = 0
    steps: int = 0
    duration_s: float = 0.0
    trace_path: str = ""
    message: str = ""


async def run_investigation(
    policy: Policy,
    issue_id: str,
    model: Model,
    pool: ServerPool | None = None,
    ctx: RunContext | None = None,
    ref: str | None = None,
    finalize: bool = True,
    followup: dict[str, Any] | None = None,
) -> RunResult:
    """Investigate ``issue_id``; always returns a RunResult carrying exactly one stop reason.

    ``followup``: a reviewer's request on the pull request already delivered (shown to the
    model fenced as untrusted input, see ``prompts/task.j2``); ``ref`` is then its branch head.
    """
    ctx = ctx or RunContext(policy, issue_id, model.name)
    ref = ref or policy.repository.ref or "HEAD"
    result = RunResult(
        ctx.run_id, StopReason(Kind.CLIENT_ERROR), ref=ref, trace_path=str(ctx.trace_path)
    )
    try:
        ctx.check_kill_switch()
        if pool is None:
            async with ServerPool({str(k): v for k, v in policy.servers.items()}) as own_pool:
                await _with_pool(ctx, own_pool, model, result, followup)
        else:
            await _with_pool(ctx, pool, model, result, followup)
    except StopRun as exc:
        result.stop_reason, result.message = exc.reason, exc.message
    except ServerError as exc:
        result.stop_reason = StopReason(Kind.SERVER_ERROR, exc.server)
        result.message = ctx.redactor.text(str(exc))
    except (asyncio.CancelledError, KeyboardInterrupt):
        result.stop_reason, result.message = StopReason(Kind.INTERRUPTED), "interrupted"
        if finalize:
            _finish(ctx, result)
        raise
    except Exception as exc:
        log.exception("run %s failed", ctx.run_id)
        result.stop_reason = StopReason(Kind.CLIENT_ERROR)
        result.message = ctx.redactor.text(f"{type(exc).__name__}: {exc}")
    b = ctx.budget
    result.usage, result.cost_usd, result.tool_calls = b.usage, b.cost_usd, b.tool_calls
    result.steps, result.duration_s = b.steps, round(b.elapsed, 3)
    log.info("run %s stopped: %s", ctx.run_id, result.stop_reason)
    if finalize:
        _finish(ctx, result)
    else:
        ctx.event("investigation_end", reason=str(result.stop_reason), message=result.message)
    return result


def _finish(ctx: RunContext, result: RunResult) -> None:
    ctx.record(diff=result.diff, base_commit=result.base_commit, ref=result.ref)
    ctx.finish(result.stop_reason, result.summary, message=result.message)


async def _with_pool(
    ctx: RunContext,
    pool: ServerPool,
    model: Model,
    result: RunResult,
    followup: dict[str, Any] | None = None,
) -> None:
    changes = pinning.check(ctx.conn, pool.tools)
    if changes:
        described = "; ".join(c.describe() for c in changes)
        ctx.audit_event("tool_definitions_changed", changes=described)
        raise stop(
            Kind.TOOL_DEFINITIONS_CHANGED, message=f"run `nightfix tools trust`: {described}"
        )
    caller = ClientCaller(ctx, pool)
    sandbox = await create_sandbox(ctx, caller, result)
    try:
        gateway = Gateway(ctx, pool, sandbox.get("sandbox_id"))
        await _loop(ctx, gateway, model, sandbox, result, followup)
    finally:
        if sandbox.get("sandbox_id"):
            with anyio.CancelScope(shield=True):
                await collect_and_destroy(ctx, caller, sandbox["sandbox_id"], result)


def toolchain_hint(sandbox: dict[str, Any]) -> dict[str, Any] | None:
    """The sandbox's toolchain name and test globs, so the model knows which files are tests
    without the client knowing any runner."""
    chain = sandbox.get("toolchain")
    if not isinstance(chain, dict) or not chain.get("name"):
        return None
    globs = [str(g) for g in chain.get("test_globs") or []][:SHOWN_GLOBS]
    return {"name": str(chain["name"])[:40], "test_globs": globs}


def setup_note(redactor: Redactor, sandbox: dict[str, Any]) -> str | None:
    """What went wrong while setting the sandbox up (e.g. the project could not be installed),
    redacted and capped: it can quote the repository's own build output."""
    note = sandbox.get("setup_note")
    if not note:
        return None
    return redactor.text(" ".join(str(note).split()))[:SETUP_NOTE_CHARS]


async def _loop(
    ctx: RunContext,
    gateway: Gateway,
    model: Model,
    sandbox: dict[str, Any],
    result: RunResult,
    followup: dict[str, Any] | None = None,
) -> None:
    policy = ctx.policy
    tools = [*gateway.tool_specs(), FINISH]
    ctx.event("tools_offered", tools=[t.name for t in tools])
    system = render(
        "system",
        budgets=policy.budgets,
        commit=sandbox.get("commit") or "unknown",
        errors_tool_hint="errors.get_issue",
    )
    task = render(
        "task",
        issue_id=ctx.issue_id,
        sandbox_source=policy.repository.sandbox_source,
        ref=result.ref,
        commit=sandbox.get("commit") or "unknown",
        repo=policy.repository.github_repo,
        toolchain=toolchain_hint(sandbox),
        setup_note=setup_note(ctx.redactor, sandbox),
        followup=followup,
    )
    messages: list[Message] = [UserText(task)]
    while True:
        ctx.check_kill_switch()
        exceeded = ctx.budget.check_step()
        if exceeded is not None:
            ctx.audit_event(
                "budget_exceeded", budget=exceeded.value, snapshot=ctx.budget.snapshot()
            )
            raise stop(
                exceeded, message=f"{exceeded.value} reached before step {ctx.budget.steps + 1}"
            )
        ctx.audit_event("step_allowed", step=ctx.budget.steps + 1, budget=ctx.budget.snapshot())
        started = ctx.budget.elapsed
        try:
            with anyio.fail_after(max(ctx.budget.remaining_seconds(), 0.001)):
                turn = await model.complete(system, messages, tools)
        except TimeoutError as exc:
            raise stop(Kind.MAX_SECONDS, message="the model call ran past max_seconds") from exc
        except ModelError as exc:
            raise stop(Kind.MODEL_ERROR, message=ctx.redactor.text(str(exc))) from exc
        ctx.budget.record_step(turn.usage)
        ctx.trace.write(
            "model_turn",
            step=ctx.budget.steps,
            text=turn.text,
            tool_calls=[c.as_dict() for c in turn.tool_calls],
            usage=turn.usage.as_dict(),
            duration_s=round(ctx.budget.elapsed - started, 4),
        )
        messages.append(turn)
        log.info(
            "run %s step %d: %s",
            ctx.run_id,
            ctx.budget.steps,
            ", ".join(c.name for c in turn.tool_calls) or "no tool call",
        )
        if not turn.tool_calls:
            messages.append(UserText(NO_TOOL_CALL))
            continue
        messages.append(ToolResults(await _answers(ctx, gateway, turn, result)))


NO_TOOL_CALL = "Continue with a tool call, or call `finish` with your summary."


async def _answers(
    ctx: RunContext, gateway: Gateway, turn: ModelTurn, result: RunResult
) -> list[ToolResult]:
    """Run the turn's tool calls in order; a valid ``finish`` ends the run (StopRun)."""
    answers: list[ToolResult] = []
    for call in turn.tool_calls:
        if call.invalid_arguments is not None and (
            call.name == FINISH.name or call.name in gateway.offered
        ):  # a tool not offered goes on to the gateway, which denies it whatever its arguments
            answers.append(_refuse_arguments(ctx, call))
            continue
        if call.name == FINISH.name:
            summary = parse_summary(call)
            if isinstance(summary, Summary):
                result.summary = summary.model_dump()
                kind = Kind.COMPLETED if summary.fixed else Kind.NO_FIX
                ctx.audit_event("finish", fixed=summary.fixed, confidence=summary.confidence)
                raise stop(kind, message="the model finished")
            answers.append(ToolResult(call.id, call.name, summary, True))
            continue
        outcome = await gateway.call(call)
        answers.append(ToolResult(call.id, call.name, outcome.framed(call.name), outcome.is_error))
    return answers


def _refuse_arguments(ctx: RunContext, call: ToolCall) -> ToolResult:
    """A call whose arguments were not a JSON object is not run; the model is told why."""
    content = (
        f"tool call refused, nothing was run: its arguments were not a valid JSON object "
        f"({call.invalid_arguments}). Call {call.name} again with a JSON object of arguments."
    )
    ctx.trace.write("tool_call", id=call.id, name=call.name, input={}, decision="refused")
    ctx.trace.write("tool_result", id=call.id, name=call.name, content=content, is_error=True)
    return ToolResult(call.id, call.name, content, True)
