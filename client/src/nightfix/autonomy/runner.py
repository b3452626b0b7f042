"""One watch run, end to end: investigate → verification gate → delivery → notification.

Everything lands in the client's run record, trace and audit chain (a :class:`RunContext`
reused after the model loop). A run paused in ``awaiting_approval`` is continued later by
:func:`resume` in :meth:`RunContext.reopen` — the same run id, trace file and audit log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from nightfix.agent import RunResult, run_investigation
from nightfix.autonomy import diffs
from nightfix.autonomy.delivery import Delivery, Outcome, protected_changes
from nightfix.autonomy.notify import Notification, send
from nightfix.autonomy.trigger import Decision
from nightfix.autonomy.verification import Gate
from nightfix.autonomy.watch_state import WatchState
from nightfix.errors import ServerError, ToolCallError
from nightfix.gateway import ClientCaller
from nightfix.models import Model
from nightfix.policy import Policy
from nightfix.run_context import RunContext
from nightfix.servers import ServerPool
from nightfix.stop_reasons import Kind, StopReason

log = logging.getLogger("nightfix.watch")
Say = Callable[[str], None]


AUDITED = {
    "approval_requested",
    "approval_ok",
    "branch",
    "commit",
    "pull_request",
    "merged",
    "merge_refused",
    "verification_passed",
    "verification_failed",
}
"""Gate and delivery events that also get an audit line (decisions, writes)."""


def sink(ctx: RunContext) -> Callable[[str, dict[str, Any]], None]:
    def emit(name: str, data: dict[str, Any]) -> None:
        ctx.event(name, detail=data)
        if name in AUDITED:
            keep = ("step", "digest", "name", "commit", "number", "url", "check", "reason")
            ctx.audit_event(name, **{k: data[k] for k in keep if k in data})

    return emit


def failure(ctx: RunContext, exc: Exception, kind: str) -> Outcome:
    """How a run stage that raised ends: `server_error:<server>` for a failing server,
    else `kind` (logged with its traceback). Messages are redacted either way."""
    if isinstance(exc, ServerError):
        return Outcome("stopped", f"server_error:{exc.server}", ctx.redactor.text(str(exc)))
    log.exception("run %s failed", ctx.run_id)
    return Outcome("stopped", kind, ctx.redactor.text(f"{type(exc).__name__}: {exc}"))


class RunPipeline:
    def __init__(self, policy: Policy, state: WatchState, pool: ServerPool, say: Say) -> None:
        self.policy, self.state, self.pool, self.say = policy, state, pool, say

    async def start(self, decision: Decision, run_id: str, model: Model) -> Outcome:
        """Investigate a freshly claimed issue, gate the fix, deliver it."""
        ctx = RunContext(self.policy, decision.issue_id, model.name, kind="watch", run_id=run_id)
        ctx.event(
            "trigger",
            issue_id=decision.issue_id,
            reason=decision.reason,
            events_in_window=decision.events_in_window,
        )
        ctx.audit_event("trigger", issue_id=decision.issue_id, reason=decision.reason)
        self.state.update(run_id, issue=decision.issue)
        try:
            outcome = await self._investigate_and_deliver(ctx, decision, model)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self._end(ctx, Outcome("stopped", "interrupted", "watch was stopped"))
            raise
        except Exception as exc:
            outcome = failure(ctx, exc, "client_error")
        self._end(ctx, outcome)
        await self.notify(run_id, outcome)
        return outcome

    async def _investigate_and_deliver(
        self, ctx: RunContext, decision: Decision, model: Model
    ) -> Outcome:
        run_id = ctx.run_id
        ref = self.policy.repository.ref or "HEAD"
        self.say(f"run {run_id}: checking that the test suite runs on {ref}")
        unable = await self.gate(ctx, ClientCaller(ctx, self.pool)).precheck(ref)
        if unable is not None:
            self.say(f"run {run_id}: {unable.stop_reason}: {unable.reason}")
            return Outcome("stopped", unable.stop_reason or "configuration_error", unable.reason)
        self.say(f"run {run_id}: investigating issue {decision.issue_id} with {model.name}")
        result = await run_investigation(
            self.policy, decision.issue_id, model, pool=self.pool, ctx=ctx, finalize=False
        )
        ctx.record(diff=result.diff, base_commit=result.base_commit, ref=result.ref)
        self.state.update(
            run_id,
            diff=result.diff,
            diff_hash=diffs.digest(result.diff or ""),
            base_commit=result.base_commit,
            summary=result.summary,
            cost_usd=result.cost_usd,
        )
        self.say(
            f"run {run_id}: investigation ended {result.stop_reason} "
            f"({result.tool_calls} tool calls, ${result.cost_usd:.4f})"
        )
        if result.stop_reason.kind != Kind.COMPLETED:
            return Outcome("stopped", str(result.stop_reason), result.message or "")
        return await self._gate_and_deliver(ctx, result)

    async def _gate_and_deliver(self, ctx: RunContext, result: RunResult) -> Outcome:
        run_id, caller = ctx.run_id, ClientCaller(ctx, self.pool)
        self.say(
            f"run {run_id}: verification gate (fresh sandboxes from "
            f"{(result.base_commit or '?')[:12]})"
        )
        gate = self.gate(ctx, caller)
        verdict = await gate.verify(result.diff, result.base_commit or result.ref or "HEAD")
        verdict.evidence["investigation"] = {
            "stop_reason": str(result.stop_reason),
            "tool_calls": result.tool_calls,
            "steps": result.steps,
            "duration_s": result.duration_s,
        }
        verdict.evidence["protected_changes"] = verdict.protected_changes
        self.state.update(run_id, evidence=verdict.evidence)
        ctx.audit_event("verification", passed=verdict.passed, check=verdict.check)
        if not verdict.passed:
            self.say(f"run {run_id}: verification FAILED ({verdict.check}): {verdict.reason}")
            return Outcome("stopped", verdict.stop_reason or "verification_failed", verdict.reason)
        self.say(f"run {run_id}: verification passed — {describe_evidence(verdict.evidence)}")
        base_commit = str(verdict.evidence["base_commit"])
        preview = await Delivery(caller, self.policy, self.state).preview(result.diff, base_commit)
        self.state.update(run_id, status="delivering", base_commit=base_commit, tree=preview)
        try:
            return await Delivery(caller, self.policy, self.state, on_event=sink(ctx)).deliver(
                run_id
            )
        except ToolCallError as exc:  # the repository server refused a write
            return refused_write(ctx, exc)

    def gate(self, ctx: RunContext, caller: ClientCaller) -> Gate:
        issue = (self.state.get(ctx.run_id) or {}).get("issue") or {}
        return Gate(
            caller,
            self.policy.verification,
            self.policy.repository.sandbox_source,
            on_event=sink(ctx),
            cache=self.state,
            exception=exception_of(issue),
        )

    async def resume(self, run: dict[str, Any]) -> Outcome:
        """Continue a run whose approval was answered (or timed out)."""
        run_id = run["run_id"]
        ctx = RunContext.reopen(self.policy, run_id, str(run["issue_id"]))
        try:
            delivery = Delivery(
                ClientCaller(ctx, self.pool), self.policy, self.state, on_event=sink(ctx)
            )
            outcome = await delivery.deliver(run_id)
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.state.update(run_id, status="awaiting_approval")
            ctx.finish(StopReason(Kind.INTERRUPTED))
            raise
        except Exception as exc:
            outcome = failure(ctx, exc, "delivery_failed")
        self._end(ctx, outcome)
        await self.notify(run_id, outcome)
        return outcome

    def _end(self, ctx: RunContext, outcome: Outcome) -> None:
        reason = StopReason.parse(outcome.stop_reason)
        fields: dict[str, Any] = {}
        if outcome.status in ("awaiting_approval",):
            self.state.update(ctx.run_id, status="awaiting_approval", stop_reason=str(reason))
        else:
            self.state.finish(
                ctx.run_id,
                outcome.status,
                str(reason),
                notes="; ".join([outcome.message, *outcome.notes]),
            )
        if outcome.pull_request:
            fields["pull_request"] = outcome.pull_request.get("url")
        run = self.state.get(ctx.run_id) or {}
        ctx.finish(reason, run.get("summary"), message=outcome.message, **fields)
        self.say(f"run {ctx.run_id}: {reason} — {outcome.message}")

    async def notify(self, run_id: str, outcome: Outcome) -> None:
        run = self.state.get(run_id) or {}
        issue = run.get("issue") or {}
        fields = {
            "Issue": f"{issue.get('id', run.get('issue_id'))}: {issue.get('title', '')}",
            "Stop reason": outcome.stop_reason,
            "Cost": f"${run.get('cost_usd') or 0:.4f}",
        }
        event: Any = "stopped"
        details = None
        summary = outcome.message
        if outcome.status == "awaiting_approval":
            event, details = "awaiting_approval", _callout(run) + _diff_block(run)
            summary = (
                f"{outcome.message}. Approve: `nightfix approve {run_id}`; deny: "
                f"`nightfix deny {run_id}`"
            )
        elif outcome.status == "reported":
            root = (run.get("summary") or {}).get("root_cause", "")
            event, details = "reported", f"*Root cause:* {root}\n{_diff_block(run)}"
        elif outcome.status == "delivered" and outcome.pull_request:
            event = "merged" if outcome.merged else "pull_request_opened"
            if run.get("followup_of") and not outcome.merged:
                event = "followup_committed"
            fields["Pull request"] = str(outcome.pull_request.get("url"))
        await send(self.policy.notify, Notification(event, run_id, summary, fields, details))


def refused_write(ctx: RunContext, exc: ToolCallError) -> Outcome:
    """A refused repository write ends ``delivery_failed`` — or ``approval_stale`` when what
    would be committed is not the tree that was verified and approved (``tree_mismatch``)."""
    message = ctx.redactor.text(str(exc))
    kind = "approval_stale" if "tree_mismatch" in message else "delivery_failed"
    return Outcome("stopped", kind, message)


def exception_of(issue: dict[str, Any]) -> str | None:
    """The exception type an error issue is titled with (``PoolExhausted: all 10 ...``)."""
    found = re.match(r"^\s*([A-Za-z_][\w.]*)\s*:", str(issue.get("title") or ""))
    return found.group(1).rsplit(".", 1)[-1] if found else None


def _callout(run: dict[str, Any]) -> str:
    """What a person must read first: test infrastructure the fix changes."""
    changed = protected_changes(run)
    if not changed:
        return ""
    return (
        f"*This fix changes test infrastructure:* {', '.join(changed)} — it changes how the "
        "tests that prove it run. Read those changes first.\n"
    )


def _diff_block(run: dict[str, Any]) -> str:
    return f"```\n{run.get('diff') or ''}```"


def describe_evidence(evidence: dict[str, Any]) -> str:
    suite = evidence.get("suite") or {}
    text = f"suite {suite.get('passed')} passed, {suite.get('failed')} failed"
    before, after = evidence.get("before"), evidence.get("after")
    if before and after:
        text += (
            f"; regression test {', '.join(evidence.get('regression_tests', []))}: "
            f"{before.get('failed', 0) + before.get('errors', 0)} failing on the original "
            f"code, {after.get('passed')} passing with the fix"
        )
    return text
