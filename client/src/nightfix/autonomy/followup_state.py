"""Follow-up decisions in the watch state (migration ``104_followups``).

Every piece of feedback the watcher looks at gets one row in ``followups`` — ``run``,
``ignored``, ``limit`` or ``refused`` with its reason — written *before* anything acts on it,
so a comment is handled once even across crashes and restarts. ``followup_replies`` holds the
ids of the comments nightfix wrote, so they never count as a reviewer's.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from nightfix.autonomy.watch_state import WatchState, _decode, iso, now_utc, this_owner


def delivered_pulls(state: WatchState) -> list[dict[str, Any]]:
    """First runs whose pull request nightfix opened (follow-ups hang off these)."""
    rows = state.conn.execute(
        "SELECT * FROM watch_runs WHERE pr_number IS NOT NULL AND followup_of IS NULL"
        " AND status='delivered' AND merged=0 ORDER BY started_at"
    ).fetchall()
    return [_decode(dict(r)) for r in rows]


def latest_delivery(state: WatchState, origin: dict[str, Any]) -> dict[str, Any]:
    """The last delivered run on the pull request: the origin or its newest follow-up."""
    row = state.conn.execute(
        "SELECT * FROM watch_runs WHERE followup_of=? AND status='delivered'"
        " ORDER BY ended_at DESC, started_at DESC LIMIT 1",
        (origin["run_id"],),
    ).fetchone()
    return _decode(dict(row)) if row is not None else origin


def seen(state: WatchState, pr_number: int, feedback_id: str) -> bool:
    return (
        state.conn.execute(
            "SELECT 1 FROM followups WHERE pr_number=? AND feedback_id=?",
            (pr_number, feedback_id),
        ).fetchone()
        is not None
    )


def record(
    state: WatchState,
    origin: dict[str, Any],
    item: dict[str, Any],
    decision: str,
    reason: str,
    run_id: str | None = None,
) -> bool:
    """Record what was decided about ``item``; False when it was already decided."""
    cur = state.conn.execute(
        "INSERT OR IGNORE INTO followups (pr_number, feedback_id, origin_run_id, author, kind,"
        " created_at, decision, reason, run_id, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            origin["pr_number"],
            str(item["id"]),
            origin["run_id"],
            item.get("author"),
            item.get("kind"),
            item.get("created_at"),
            decision,
            reason,
            run_id,
            iso(now_utc()),
        ),
    )
    return cur.rowcount == 1


def decisions(state: WatchState, pr_number: int | None = None) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM followups", tuple[Any, ...]()
    if pr_number is not None:
        sql, args = sql + " WHERE pr_number=?", (pr_number,)
    return [dict(r) for r in state.conn.execute(sql + " ORDER BY decided_at, rowid", args)]


def runs_done(state: WatchState, pr_number: int) -> int:
    row = state.conn.execute(
        "SELECT count(*) FROM followups WHERE pr_number=? AND decision='run'", (pr_number,)
    ).fetchone()
    return int(row[0])


def last_handled_at(state: WatchState, pr_number: int) -> str | None:
    row = state.conn.execute(
        "SELECT max(created_at) FROM followups WHERE pr_number=? AND decision='run'",
        (pr_number,),
    ).fetchone()
    return str(row[0]) if row[0] else None


def limit_replied(state: WatchState, pr_number: int) -> bool:
    row = state.conn.execute(
        "SELECT 1 FROM followups WHERE pr_number=? AND decision='limit' AND reply_id IS NOT NULL",
        (pr_number,),
    ).fetchone()
    return row is not None


def add_reply(
    state: WatchState,
    pr_number: int,
    comment_id: str,
    run_id: str | None,
    feedback_id: str | None = None,
) -> None:
    state.conn.execute(
        "INSERT OR IGNORE INTO followup_replies (comment_id, pr_number, run_id, posted_at)"
        " VALUES (?,?,?,?)",
        (comment_id, pr_number, run_id, iso(now_utc())),
    )
    if feedback_id is not None:
        state.conn.execute(
            "UPDATE followups SET reply_id=? WHERE pr_number=? AND feedback_id=?",
            (comment_id, pr_number, feedback_id),
        )


def own_replies(state: WatchState, pr_number: int) -> set[str]:
    rows = state.conn.execute(
        "SELECT comment_id FROM followup_replies WHERE pr_number=?", (pr_number,)
    )
    return {str(r[0]) for r in rows}


def claim(
    state: WatchState,
    run_id: str,
    origin: dict[str, Any],
    item: dict[str, Any],
    *,
    max_concurrent: int,
    max_runs_per_day: int,
) -> str | None:
    """Atomically record the ``run`` decision and start the follow-up run's record, unless
    the feedback was decided already or a watch limit forbids a run now (then why)."""
    now = now_utc()
    with state.transaction() as db:
        if seen(state, int(origin["pr_number"]), str(item["id"])):
            return "already handled"
        running = db.execute(
            "SELECT count(*) FROM watch_runs WHERE status IN ('running', 'delivering')"
        ).fetchone()[0]
        if running >= max_concurrent:
            return f"{running} run(s) in flight, the limit is {max_concurrent}"
        today = state.runs_since(now - timedelta(days=1))
        if today >= max_runs_per_day:
            return f"{today} run(s) in the last 24 h, the limit is {max_runs_per_day}"
        record(state, origin, item, "run", "follow-up run started", run_id)
        db.execute(
            "INSERT INTO watch_runs (run_id, issue_id, fingerprint, status, decision, owner,"
            " heartbeat_at, started_at, trust_phase, issue_json, followup_of, feedback_id,"
            " branch, pr_number, pr_url)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                origin["issue_id"],
                origin["fingerprint"],
                f"follow-up on #{origin['pr_number']}: {item['id']} by {item.get('author')}",
                this_owner(),
                iso(now),
                iso(now),
                origin.get("trust_phase"),
                _issue_json(origin),
                origin["run_id"],
                str(item["id"]),
                origin.get("branch"),
                origin["pr_number"],
                origin.get("pr_url"),
            ),
        )
    return None


def _issue_json(run: dict[str, Any]) -> str | None:
    return json.dumps(run["issue"]) if run.get("issue") is not None else None
