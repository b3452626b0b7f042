"""The watch's SQLite state: which issue has which run, approvals, daily counters, back-off.

It lives in the client's state database (``policy.state.db``), beside the runs index, with its
own append-only migrations. Every decision that must survive ``kill -9`` is committed before
the step it guards: a run is *claimed* (one transaction that checks idempotency and the daily
and concurrency limits, then inserts) before any work starts, so two watchers — or a watcher
restarted after a crash — never start a second run for the same issue or fingerprint.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nightfix import state

MIGRATIONS: list[state.Migration] = [
    (
        "101_watch_runs",
        """
        CREATE TABLE watch_runs (
            run_id TEXT PRIMARY KEY,
            issue_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            status TEXT NOT NULL,
            stop_reason TEXT,
            decision TEXT,
            owner TEXT,
            heartbeat_at TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            trust_phase INTEGER,
            diff TEXT,
            diff_hash TEXT,
            base_commit TEXT,
            files_json TEXT,
            evidence_json TEXT,
            summary_json TEXT,
            issue_json TEXT,
            cost_usd REAL NOT NULL DEFAULT 0,
            branch TEXT,
            pr_number INTEGER,
            pr_url TEXT,
            pr_opened_at TEXT,
            merged INTEGER NOT NULL DEFAULT 0,
            notes TEXT
        );
        CREATE INDEX watch_runs_issue ON watch_runs(issue_id);
        CREATE INDEX watch_runs_fingerprint ON watch_runs(fingerprint);
        CREATE TABLE watch_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            issue_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            critical INTEGER NOT NULL,
            reason TEXT NOT NULL,
            run_id TEXT
        );
        CREATE TABLE approvals (
            run_id TEXT NOT NULL,
            step TEXT NOT NULL,
            target TEXT NOT NULL,
            digest TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            decision TEXT NOT NULL DEFAULT 'pending',
            approved_digest TEXT,
            decided_at TEXT,
            decided_by TEXT,
            PRIMARY KEY (run_id, step)
        );
        CREATE TABLE backoff (
            server TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            until TEXT NOT NULL,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE backoff_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL,
            server TEXT NOT NULL,
            failures INTEGER NOT NULL,
            delay_s REAL NOT NULL,
            error TEXT
        )
        """,
    ),
    (
        "102_baselines",
        """
        CREATE TABLE baselines (
            key TEXT PRIMARY KEY,
            commit_sha TEXT NOT NULL,
            created_at TEXT NOT NULL,
            data_json TEXT NOT NULL
        )
        """,
    ),
    ("103_watch_runs_tree", "ALTER TABLE watch_runs ADD COLUMN tree TEXT"),
    (
        "104_followups",
        """
        ALTER TABLE watch_runs ADD COLUMN followup_of TEXT;
        ALTER TABLE watch_runs ADD COLUMN feedback_id TEXT;
        ALTER TABLE watch_runs ADD COLUMN head_commit TEXT;
        ALTER TABLE watch_runs ADD COLUMN increment TEXT;
        CREATE TABLE followups (
            pr_number INTEGER NOT NULL,
            feedback_id TEXT NOT NULL,
            origin_run_id TEXT NOT NULL,
            author TEXT,
            kind TEXT,
            created_at TEXT,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            run_id TEXT,
            reply_id TEXT,
            decided_at TEXT NOT NULL,
            PRIMARY KEY (pr_number, feedback_id)
        );
        CREATE TABLE followup_replies (
            comment_id TEXT PRIMARY KEY,
            pr_number INTEGER NOT NULL,
            run_id TEXT,
            posted_at TEXT NOT NULL
        )
        """,
    ),
]

ACTIVE = ("running", "awaiting_approval", "approved", "delivering")
"""Statuses of a run still in flight (no second run for its issue/fingerprint)."""
RETRYABLE = (
    "interrupted",
    "server_error",
    "kill_switch",
    "client_error",
    "max_seconds",
    "configuration_error",
)
"""Stop kinds after which the same issue may be tried again at once."""
STALE_HEARTBEAT = timedelta(minutes=30)


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Refusal:
    """Why a run was not claimed (shown in the watch log and the decision record)."""

    reason: str


class WatchState:
    """Open with :meth:`open`; every method commits its own transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path) -> WatchState:
        conn = state.connect(path)
        state.apply_migrations(conn, MIGRATIONS)
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- decisions -------------------------------------------------------------------------
    def record_decision(
        self, issue_id: str, fingerprint: str, critical: bool, reason: str, run_id: str | None
    ) -> None:
        self.conn.execute(
            "INSERT INTO watch_decisions (ts, issue_id, fingerprint, critical, reason, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (iso(now_utc()), issue_id, fingerprint, int(critical), reason, run_id),
        )

    def decisions(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM watch_decisions ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    # -- claiming runs ---------------------------------------------------------------------
    def claim(
        self,
        run_id: str,
        issue_id: str,
        fingerprint: str,
        *,
        decision: str,
        max_concurrent: int,
        max_runs_per_day: int,
        trust_phase: int,
        retry_after_hours: float = 24,
        now: datetime | None = None,
    ) -> Refusal | None:
        """Atomically start a run for the issue unless a rule forbids it (then a refusal)."""
        now = now or now_utc()
        with self.transaction() as db:
            self._expire_dead_owners(now)
            rows = db.execute(
                "SELECT * FROM watch_runs WHERE issue_id=? OR fingerprint=?",
                (issue_id, fingerprint),
            ).fetchall()
            for row in rows:
                blocked = _blocks(dict(row), now, timedelta(hours=retry_after_hours))
                if blocked:
                    return Refusal(blocked)
            running = db.execute(
                "SELECT count(*) FROM watch_runs WHERE status IN ('running', 'delivering')"
            ).fetchone()[0]
            if running >= max_concurrent:
                return Refusal(f"{running} run(s) in flight, the limit is {max_concurrent}")
            today = self.runs_since(now - timedelta(days=1))
            if today >= max_runs_per_day:
                return Refusal(f"{today} run(s) in the last 24 h, the limit is {max_runs_per_day}")
            db.execute(
                "INSERT INTO watch_runs (run_id, issue_id, fingerprint, status, decision, owner,"
                " heartbeat_at, started_at, trust_phase)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (
                    run_id,
                    issue_id,
                    fingerprint,
                    decision,
                    this_owner(),
                    iso(now),
                    iso(now),
                    trust_phase,
                ),
            )
        return None

    def _expire_dead_owners(self, now: datetime) -> None:
        """Runs whose watcher died mid-run (``kill -9``) end as ``interrupted``."""
        rows = self.conn.execute(
            "SELECT run_id, owner, heartbeat_at FROM watch_runs WHERE status IN "
            "('running', 'delivering')"
        ).fetchall()
        for row in rows:
            if owner_alive(row["owner"], row["heartbeat_at"], now):
                continue
            self.conn.execute(
                "UPDATE watch_runs SET status='stopped', stop_reason='interrupted', ended_at=?,"
                " notes=coalesce(notes || '; ', '') || 'watcher died mid-run' WHERE run_id=?",
                (iso(now), row["run_id"]),
            )

    def runs_since(self, since: datetime) -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM watch_runs WHERE started_at >= ?", (iso(since),)
            ).fetchone()[0]
        )

    def prs_since(self, since: datetime) -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM watch_runs WHERE pr_opened_at >= ?", (iso(since),)
            ).fetchone()[0]
        )

    # -- run records -----------------------------------------------------------------------
    def update(self, run_id: str, **fields: Any) -> None:
        for key in ("files", "evidence", "summary", "issue"):
            if key in fields:
                fields[f"{key}_json"] = json.dumps(fields.pop(key))
        columns = ", ".join(f"{name}=?" for name in fields)
        self.conn.execute(
            f"UPDATE watch_runs SET {columns}, heartbeat_at=? WHERE run_id=?",  # noqa: S608
            (*fields.values(), iso(now_utc()), run_id),
        )

    def finish(self, run_id: str, status: str, stop_reason: str, **fields: Any) -> None:
        self.update(
            run_id, status=status, stop_reason=stop_reason, ended_at=iso(now_utc()), **fields
        )

    def get(self, run_id: str) -> dict[str, Any] | None:
        rows = self.conn.execute(
            "SELECT * FROM watch_runs WHERE substr(run_id, 1, ?) = ? LIMIT 2",
            (len(run_id), run_id),
        ).fetchall()
        exact = [r for r in rows if r["run_id"] == run_id]
        row = exact[0] if exact else (rows[0] if len(rows) == 1 else None)
        return _decode(dict(row)) if row is not None else None

    def runs(self, status: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM watch_runs", tuple[str, ...]()
        if status:
            sql, args = sql + " WHERE status=?", (status,)
        rows = self.conn.execute(sql + " ORDER BY started_at, run_id", args).fetchall()
        return [_decode(dict(r)) for r in rows]

    def take_over(self, run_id: str, from_status: str, to_status: str) -> bool:
        """Move a run between statuses only if nobody else did (resuming is exclusive)."""
        cur = self.conn.execute(
            "UPDATE watch_runs SET status=?, owner=?, heartbeat_at=? WHERE run_id=? AND status=?",
            (to_status, this_owner(), iso(now_utc()), run_id, from_status),
        )
        return cur.rowcount == 1

    # -- back-off --------------------------------------------------------------------------
    def backoff_until(self, server: str) -> datetime | None:
        row = self.conn.execute("SELECT until FROM backoff WHERE server=?", (server,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def record_failure(self, server: str, delay_s: float, error: str) -> int:
        now = now_utc()
        with self.transaction() as db:
            row = db.execute("SELECT failures FROM backoff WHERE server=?", (server,)).fetchone()
            failures = (row[0] if row else 0) + 1
            until = iso(now + timedelta(seconds=delay_s))
            db.execute(
                "INSERT INTO backoff VALUES (?, ?, ?, ?, ?) ON CONFLICT(server) DO UPDATE SET "
                "failures=excluded.failures, until=excluded.until, last_error=excluded.last_error,"
                " updated_at=excluded.updated_at",
                (server, failures, until, error[:500], iso(now)),
            )
            db.execute(
                "INSERT INTO backoff_log (ts, server, failures, delay_s, error) VALUES (?,?,?,?,?)",
                (iso(now), server, failures, delay_s, error[:500]),
            )
        return failures

    def failures(self, server: str) -> int:
        row = self.conn.execute("SELECT failures FROM backoff WHERE server=?", (server,)).fetchone()
        return int(row[0]) if row else 0

    def record_success(self, server: str) -> None:
        self.conn.execute("DELETE FROM backoff WHERE server=?", (server,))

    def baseline(self, key: str) -> dict[str, Any] | None:
        """A cached baseline (see :mod:`nightfix.autonomy.verdicts`), or ``None``."""
        row = self.conn.execute("SELECT data_json FROM baselines WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_baseline(self, key: str, commit: str, data: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO baselines (key, commit_sha, created_at, data_json)"
            " VALUES (?,?,?,?)",
            (key, commit, iso(now_utc()), json.dumps(data)),
        )

    def backoff_log(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM backoff_log ORDER BY id")]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("files", "evidence", "summary", "issue"):
        raw = row.pop(f"{key}_json", None)
        row[key] = json.loads(raw) if raw else None
    return row


def _blocks(row: dict[str, Any], now: datetime, retry_after: timedelta) -> str | None:
    """Why an existing run for the same issue/fingerprint forbids a new one (or ``None``).

    A run that ended with a verdict blocks its issue for ``retry_after``
    (policy ``watch.retry_after_hours``); one cut short (RETRYABLE) does not.
    """
    status, run = row["status"], row["run_id"]
    if status in ACTIVE:
        return f"run {run} for this issue is {status}"
    if row.get("pr_number") and not row.get("merged"):
        return f"pull request #{row['pr_number']} of run {run} is open for this issue"
    kind = (row.get("stop_reason") or "").split(":")[0]
    ended = datetime.fromisoformat(row["ended_at"]) if row.get("ended_at") else now
    if kind not in RETRYABLE and now - ended < retry_after:
        hours = f"{retry_after.total_seconds() / 3600:g}"
        return f"run {run} ended {row.get('stop_reason')} less than {hours} h ago"
    return None


def owner_alive(owner: str | None, heartbeat_at: str | None, now: datetime) -> bool:
    """Same host: is the pid alive? Other host: is its heartbeat recent?"""
    host, _, pid = (owner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _not_zombie(int(pid))
    beat = datetime.fromisoformat(heartbeat_at) if heartbeat_at else None
    return beat is not None and now - beat < STALE_HEARTBEAT


def _not_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status
