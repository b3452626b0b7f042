"""The client's SQLite state: the runs index, pinned tool definitions and audit anchors.

The schema evolves by append-only, named migrations recorded in ``_migrations`` (never edit
or reorder one that shipped; add a new one). Other client modules (watch state, approvals) add
their own named migration lists through :func:`apply_migrations`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Migration = tuple[str, str]

MIGRATIONS: list[Migration] = [
    (
        "001_runs",
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            issue_id TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'run',
            model TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            stop_reason TEXT,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            steps INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            duration_s REAL,
            trace_path TEXT,
            summary_json TEXT,
            diff TEXT,
            base_commit TEXT,
            ref TEXT
        );
        CREATE INDEX runs_issue ON runs(issue_id);
        """,
    ),
    (
        "002_tool_pins",
        """
        CREATE TABLE tool_pins (
            server TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            tools_json TEXT NOT NULL,
            trusted_at TEXT NOT NULL,
            trusted_by TEXT NOT NULL
        );
        """,
    ),
    (
        "003_audit_anchor",
        """
        CREATE TABLE audit_anchor (
            log TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            mac TEXT NOT NULL,
            key_id TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        "004_runs_tokens_estimated",
        # 1 when some model call's tokens were estimated (the server reported no usage)
        "ALTER TABLE runs ADD COLUMN tokens_estimated INTEGER NOT NULL DEFAULT 0",
    ),
]

RUN_FIELDS = frozenset(
    {
        "issue_id",
        "kind",
        "model",
        "started_at",
        "ended_at",
        "stop_reason",
        "tool_calls",
        "steps",
        "input_tokens",
        "output_tokens",
        "tokens_estimated",
        "cost_usd",
        "duration_s",
        "trace_path",
        "summary_json",
        "diff",
        "base_commit",
        "ref",
    }
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (creating it and its directory) the state database and bring its schema up to date."""
    db = Path(path).expanduser()
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    _use_wal(conn)
    apply_migrations(conn, MIGRATIONS)
    return conn


def _use_wal(conn: sqlite3.Connection, attempts: int = 200) -> None:
    """Switch a new database to WAL (a persistent setting, so once is enough). The switch
    needs an exclusive lock and SQLite answers it with "locked" at once, without waiting
    for a busy timeout, when several processes create the database together: retry."""
    for attempt in range(attempts):
        if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the named migrations not yet recorded, in order; returns the names applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, sql in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name=?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now_iso()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def insert_run(conn: sqlite3.Connection, run_id: str, issue_id: str, **fields: Any) -> None:
    conn.execute(
        "INSERT INTO runs (run_id, issue_id, started_at) VALUES (?, ?, ?)",
        (run_id, issue_id, fields.pop("started_at", now_iso())),
    )
    if fields:
        update_run(conn, run_id, **fields)


def update_run(conn: sqlite3.Connection, run_id: str, **fields: Any) -> None:
    """Set columns of a run record (``summary`` is stored as JSON in ``summary_json``)."""
    if "summary" in fields:
        fields["summary_json"] = json.dumps(fields.pop("summary"))
    unknown = set(fields) - RUN_FIELDS
    if unknown:
        raise ValueError(f"unknown run fields: {sorted(unknown)}")
    if not fields:
        return
    columns = ", ".join(f"{name}=?" for name in fields)
    conn.execute(f"UPDATE runs SET {columns} WHERE run_id=?", (*fields.values(), run_id))  # noqa: S608


def get_run(conn: sqlite3.Connection, run_id: str) -> dict[str, Any] | None:
    """One run record; ``run_id`` may be a unique prefix."""
    rows = conn.execute(
        "SELECT * FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY started_at DESC LIMIT 2",
        (len(run_id), run_id),
    ).fetchall()
    exact = [row for row in rows if row["run_id"] == run_id]
    if exact:
        return dict(exact[0])
    return dict(rows[0]) if len(rows) == 1 else None


def list_runs(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
    return [dict(row) for row in rows]


def write_anchor(conn: sqlite3.Connection, log: str, seq: int, mac: str, key_id: str) -> None:
    """Record the head of the audit chain at ``log`` (its absolute path): last seq and MAC."""
    conn.execute(
        "INSERT INTO audit_anchor (log, seq, mac, key_id, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT(log) DO UPDATE SET seq=excluded.seq, mac=excluded.mac,"
        " key_id=excluded.key_id, updated_at=excluded.updated_at",
        (log, seq, mac, key_id, now_iso()),
    )


def read_anchor(conn: sqlite3.Connection, log: str) -> dict[str, Any] | None:
    """The anchored head of the audit chain at ``log``, or None when none was ever written."""
    row = conn.execute("SELECT * FROM audit_anchor WHERE log=?", (log,)).fetchone()
    return dict(row) if row else None
