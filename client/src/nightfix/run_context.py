"""One run's record, trace, audit log and budget, shared by every stage of the run.

``nightfix run`` uses a :class:`RunContext` for the model loop; ``nightfix watch`` keeps using
the same context after the loop (verification gate, delivery), so everything a run does lands
in one run record, one trace and one audit chain. A run ends exactly once, with
:meth:`RunContext.finish`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightfix import state
from nightfix.audit import AuditLog
from nightfix.budgets import Budget
from nightfix.policy import Policy
from nightfix.redaction import Redactor
from nightfix.stop_reasons import Kind, StopReason
from nightfix.trace import Trace

log = logging.getLogger(__name__)


class StopRun(Exception):
    """Raised inside a run to end it with ``reason``."""

    def __init__(self, reason: StopReason, message: str = "") -> None:
        super().__init__(message or str(reason))
        self.reason = reason
        self.message = message


def stop(kind: Kind, detail: str | None = None, message: str = "") -> StopRun:
    return StopRun(StopReason(kind, detail), message)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def policy_digest(policy: Policy) -> str:
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]


class RunContext:
    """Record, trace, audit and budget of one run (``kind`` is ``run`` or ``watch``)."""

    def __init__(
        self,
        policy: Policy,
        issue_id: str,
        model_name: str,
        kind: str = "run",
        run_id: str | None = None,
        redactor: Redactor | None = None,
        audit: AuditLog | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        self._open(policy, issue_id, run_id or new_run_id(), redactor, audit, conn)
        state.insert_run(
            self.conn,
            self.run_id,
            issue_id,
            kind=kind,
            model=model_name,
            trace_path=str(self.trace.path),
        )
        self.trace.write(
            "run_start",
            run_id=self.run_id,
            issue_id=issue_id,
            kind=kind,
            model=model_name,
            policy=policy_digest(policy),
            trust_phase=policy.trust_phase,
        )
        self.audit_event("run_start", issue_id=issue_id, model=model_name, kind=kind)

    def _open(
        self,
        policy: Policy,
        issue_id: str,
        run_id: str,
        redactor: Redactor | None = None,
        audit: AuditLog | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        self.policy = policy
        self.issue_id = issue_id
        self.run_id = run_id
        self.redactor = redactor or Redactor.from_environ(also=policy.secret_env_names())
        self._owns_audit = audit is None
        self.audit = audit or AuditLog.for_policy(policy, self.redactor)
        self._owns_conn = conn is None
        self.conn = conn or state.connect(policy.state.db)
        self.trace = Trace(policy.traces.dir, self.run_id, self.redactor)
        self.budget = Budget(policy.budgets, policy.model.prices_per_mtok)
        self.stop_reason: StopReason | None = None
        self._kill_file = Path(policy.kill_switch.file).expanduser()
        self.summary: dict[str, Any] | None = None
        self.resumed = False

    @classmethod
    def reopen(cls, policy: Policy, run_id: str, issue_id: str) -> RunContext:
        """Continue a paused run (its approval answered later, perhaps by another process).

        Same run id, trace file and audit chain; the run record already exists, so nothing
        is inserted, and :meth:`finish` completes only its end time and stop reason (the
        model loop's counters stay as the first part of the run left them).
        """
        ctx = cls.__new__(cls)
        ctx._open(policy, issue_id, run_id)
        ctx.resumed = True
        ctx.trace.write("event", name="resumed", run_id=run_id)
        ctx.audit_event("run_resumed", issue_id=issue_id)
        return ctx

    @property
    def trace_path(self) -> Path:
        return self.trace.path

    def audit_event(self, event: str, **fields: Any) -> None:
        self.audit.append(event, run_id=self.run_id, **fields)

    def event(self, name: str, **fields: Any) -> None:
        """A trace event for anything beyond model turns and tool calls (gate, delivery …)."""
        self.trace.write("event", name=name, **fields)

    def check_kill_switch(self) -> None:
        switch = self.policy.kill_switch
        if os.environ.get(switch.env) or self._kill_file.exists():
            self.audit_event("kill_switch", budget=self.budget.snapshot())
            raise stop(Kind.KILL_SWITCH, message="the kill switch is set")

    def record(self, **fields: Any) -> None:
        """Update columns of this run's record (e.g. ``diff``, ``base_commit``)."""
        state.update_run(self.conn, self.run_id, **fields)

    def finish(
        self, reason: StopReason, summary: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """End the run: stop event in trace and audit, the run record completed. Once only."""
        if self.stop_reason is not None:
            log.warning(
                "run %s already ended with %s; ignoring %s", self.run_id, self.stop_reason, reason
            )
            return
        self.stop_reason = reason
        if self.resumed:
            self._finish_resumed(reason, summary, **fields)
            return
        self.summary = summary
        budget = self.budget
        usage = budget.usage.as_dict()
        self.trace.write(
            "stop",
            reason=str(reason),
            summary=summary,
            usage=usage,
            cost_usd=round(budget.cost_usd, 6),
            tool_calls=budget.tool_calls,
            steps=budget.steps,
            duration_s=round(budget.elapsed, 3),
            **fields,
        )
        self.audit_event("stop", reason=str(reason), budget=budget.snapshot())
        record: dict[str, Any] = {
            "ended_at": state.now_iso(),
            "stop_reason": str(reason),
            "tool_calls": budget.tool_calls,
            "steps": budget.steps,
            "input_tokens": budget.usage.total_input,
            "output_tokens": budget.usage.output_tokens,
            "tokens_estimated": int(budget.usage.estimated),
            "cost_usd": budget.cost_usd,
            "duration_s": round(budget.elapsed, 3),
        }
        if summary is not None:
            record["summary"] = self.redactor.data(summary)
        self.record(**record)
        self.trace.close()
        self._close_audit()

    def _close_audit(self) -> None:
        """Release the log's descriptor and anchor connection (a later event reopens them)."""
        if self._owns_audit:
            self.audit.close()

    def _finish_resumed(
        self, reason: StopReason, summary: dict[str, Any] | None, **fields: Any
    ) -> None:
        self.summary = summary
        self.trace.write("stop", reason=str(reason), summary=summary, resumed=True, **fields)
        self.audit_event("stop", reason=str(reason))
        self.record(ended_at=state.now_iso(), stop_reason=str(reason))
        self.trace.close()
        self._close_audit()
        if self._owns_conn:
            self.conn.close()
