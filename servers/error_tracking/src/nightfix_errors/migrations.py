"""The store's schema, as an append-only list of named migrations recorded in `_migrations`.

Never edit or reorder a migration once released: add a new function to `MIGRATIONS`. Each one
runs once per database, inside a transaction, and is recorded by name.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run `;`-separated DDL statements inside the caller's transaction."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def m001_initial(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            public_key TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        CREATE TABLE issues (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            fingerprint TEXT NOT NULL,
            title TEXT NOT NULL,
            culprit TEXT,
            level TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'unresolved',
            substatus TEXT,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            event_count INTEGER NOT NULL DEFAULT 0,
            user_count INTEGER NOT NULL DEFAULT 0,
            latest_event_id TEXT,
            transaction_name TEXT,
            status_changed_at REAL,
            UNIQUE (project_id, fingerprint)
        );
        CREATE INDEX issues_last_seen ON issues(last_seen DESC);
        CREATE TABLE issue_users (
            issue_id INTEGER NOT NULL, user_key TEXT NOT NULL,
            PRIMARY KEY (issue_id, user_key)
        ) WITHOUT ROWID;
        CREATE TABLE issue_environments (
            issue_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (issue_id, name)
        ) WITHOUT ROWID;
        CREATE TABLE issue_releases (
            issue_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (issue_id, name)
        ) WITHOUT ROWID;
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            issue_id INTEGER NOT NULL REFERENCES issues(id),
            project_id INTEGER NOT NULL,
            timestamp REAL NOT NULL,
            received REAL NOT NULL,
            level TEXT,
            environment TEXT,
            release TEXT,
            transaction_name TEXT,
            message TEXT,
            user_label TEXT,
            data TEXT NOT NULL
        );
        CREATE INDEX events_issue_time ON events(issue_id, timestamp DESC, id DESC);
        """,
    )


def m002_sdk_and_path_maps(db: sqlite3.Connection) -> None:
    """Whether an issue's SDK deduplicates errors; each project's frame path mapping."""
    _script(
        db,
        """
        ALTER TABLE issues ADD COLUMN sdk_deduplicates INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE project_path_maps (
            project_id INTEGER NOT NULL REFERENCES projects(id),
            position INTEGER NOT NULL,
            source TEXT NOT NULL,
            target TEXT NOT NULL,
            PRIMARY KEY (project_id, position)
        ) WITHOUT ROWID;
        """,
    )


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = [m001_initial, m002_sdk_and_path_maps]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now.

    `db` must be in autocommit mode (``isolation_level=None``); each migration is one transaction.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        applied.append(name)
    return applied


def pending(db: sqlite3.Connection) -> list[str]:
    """Names of migrations this database lacks (for a read-only opener to refuse clearly)."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        done = set()
    return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]
