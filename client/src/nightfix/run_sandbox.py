"""The run's sandbox: created by the client, bound into the model's sandbox tools, always
destroyed (after its diff is taken), also on a crash, a stop reason or an interrupt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nightfix.errors import ServerError, ToolCallError
from nightfix.gateway import ClientCaller
from nightfix.run_context import RunContext, stop
from nightfix.stop_reasons import Kind

if TYPE_CHECKING:
    from nightfix.agent import RunResult


async def create_sandbox(
    ctx: RunContext, caller: ClientCaller, result: RunResult
) -> dict[str, Any]:
    if "sandbox" not in caller.pool.sessions:
        return {}
    source = ctx.policy.repository.sandbox_source
    try:
        sandbox = await caller.call(
            "sandbox", "create_sandbox", {"source": source, "ref": result.ref}
        )
    except ToolCallError as exc:  # e.g. an unknown source or ref: the sandbox server refused
        message = ctx.redactor.text(f"could not create the run's sandbox: {exc}")
        raise stop(Kind.SERVER_ERROR, "sandbox", message) from exc
    result.base_commit = sandbox.get("commit")
    return sandbox


async def collect_and_destroy(
    ctx: RunContext, caller: ClientCaller, sandbox_id: str, result: RunResult
) -> None:
    """Take the diff (when the server still answers), then always try to destroy the sandbox."""
    try:
        diff = await caller.call("sandbox", "diff", {"sandbox_id": sandbox_id})
        result.diff, result.files_changed = (
            diff.get("diff", ""),
            list(diff.get("files_changed", [])),
        )
        result.base_commit = diff.get("base_commit") or result.base_commit
    except (ServerError, ToolCallError) as exc:
        ctx.event("diff_unavailable", error=str(exc))
    try:
        await caller.call("sandbox", "destroy_sandbox", {"sandbox_id": sandbox_id})
    except (ServerError, ToolCallError) as exc:
        # The server is gone: its own shutdown and orphan reaper remove the container.
        ctx.event("sandbox_destroy_failed", sandbox_id=sandbox_id, error=str(exc))
