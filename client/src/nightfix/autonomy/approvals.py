"""Approvals bound to the exact change: a hash of the diff and the target it goes to.

A delivery step listed in ``policy.approvals.require`` asks first (:func:`request`); a person
answers with ``nightfix approve RUN`` / ``nightfix deny RUN`` (:func:`decide`), which binds the
answer to the digest they were shown. Before the step runs, :func:`check` recomputes the digest
of what is about to be delivered: a changed diff or target, or a request older than the
timeout, is *stale* and refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from nightfix.autonomy.diffs import digest
from nightfix.autonomy.watch_state import WatchState, iso, now_utc
from nightfix.errors import NightfixError

Verdict = Literal["approved", "pending", "denied", "stale"]


class ApprovalError(NightfixError):
    """An approve/deny command that cannot be applied (unknown run, already decided, …)."""


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    reason: str


def bind(diff: str, target: dict[str, Any]) -> str:
    """The digest an approval is bound to: the exact diff and where it would go."""
    return digest(json.dumps({"diff": diff, "target": target}, sort_keys=True))


def request(state: WatchState, run_id: str, step: str, diff: str, target: dict[str, Any]) -> str:
    """Record (idempotently) that ``step`` of ``run_id`` waits for a person; returns the digest."""
    value = bind(diff, target)
    state.conn.execute(
        "INSERT INTO approvals (run_id, step, target, digest, requested_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT(run_id, step) DO NOTHING",
        (run_id, step, json.dumps(target, sort_keys=True), value, iso(now_utc())),
    )
    return value


def pending(state: WatchState, run_id: str) -> dict[str, Any] | None:
    row = state.conn.execute(
        "SELECT * FROM approvals WHERE run_id=? AND decision='pending' ORDER BY requested_at"
        " LIMIT 1",
        (run_id,),
    ).fetchone()
    return dict(row) if row else None


def get(state: WatchState, run_id: str, step: str) -> dict[str, Any] | None:
    row = state.conn.execute(
        "SELECT * FROM approvals WHERE run_id=? AND step=?", (run_id, step)
    ).fetchone()
    return dict(row) if row else None


def decide(
    state: WatchState,
    run_id: str,
    approve: bool,
    by: str,
    expect_digest: str | None = None,
    timeout_minutes: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Answer the pending request of ``run_id``; ``expect_digest`` must match when given."""
    row = pending(state, run_id)
    if row is None:
        raise ApprovalError(
            f"run {run_id} has no approval waiting (see `nightfix runs` for its state)"
        )
    now = now or now_utc()
    if expect_digest and not row["digest"].startswith(expect_digest):
        raise ApprovalError(
            f"run {run_id}: the change now has digest {row['digest'][:12]}, not {expect_digest};"
            " review it again before approving"
        )
    if approve and timeout_minutes and expired(row, timeout_minutes, now):
        raise ApprovalError(
            f"run {run_id}: the approval request is older than {timeout_minutes} min; "
            "it can only be denied (a new run will ask again)"
        )
    state.conn.execute(
        "UPDATE approvals SET decision=?, approved_digest=?, decided_at=?, decided_by=?"
        " WHERE run_id=? AND step=?",
        (
            "approved" if approve else "denied",
            row["digest"] if approve else None,
            iso(now),
            by,
            run_id,
            row["step"],
        ),
    )
    return {**row, "decision": "approved" if approve else "denied"}


def check(
    state: WatchState,
    run_id: str,
    step: str,
    diff: str,
    target: dict[str, Any],
    timeout_minutes: int,
    now: datetime | None = None,
) -> Check:
    """May ``step`` run now with exactly this diff and target?"""
    row = get(state, run_id, step)
    if row is None:
        return Check("pending", f"no approval was requested for {step}")
    now = now or now_utc()
    if row["decision"] == "denied":
        return Check("denied", f"{step} denied by {row['decided_by']} at {row['decided_at']}")
    if row["decision"] == "pending":
        if expired(row, timeout_minutes, now):
            return Check("stale", f"nobody answered within {timeout_minutes} min")
        return Check("pending", f"{step} waits for `nightfix approve {run_id}`")
    current = bind(diff, target)
    if row["approved_digest"] != current:
        return Check(
            "stale",
            f"the change differs from the one approved (approved {row['approved_digest'][:12]},"
            f" now {current[:12]})",
        )
    decided = datetime.fromisoformat(row["decided_at"])
    requested = datetime.fromisoformat(row["requested_at"])
    if decided - requested > timedelta(minutes=timeout_minutes):
        return Check("stale", f"approved after the {timeout_minutes} min timeout")
    return Check("approved", f"{step} approved by {row['decided_by']} at {row['decided_at']}")


def expired(row: dict[str, Any], timeout_minutes: int, now: datetime) -> bool:
    requested = datetime.fromisoformat(row["requested_at"])
    return now - requested > timedelta(minutes=timeout_minutes)
