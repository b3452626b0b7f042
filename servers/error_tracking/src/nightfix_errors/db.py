"""Opening the SQLite store: read-write for the collector and CLI, read-only for `serve`."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import platformdirs

from nightfix_errors.errors import BackendError, ConfigError
from nightfix_errors.migrations import migrate, pending

DB_ENV = "NIGHTFIX_ERRORS_DB"


def default_db_path() -> Path:
    """`$NIGHTFIX_ERRORS_DB`, else `errors.db` in the user data directory of nightfix."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("nightfix", appauthor=False)) / "errors.db"


def connect_rw(path: Path) -> sqlite3.Connection:
    """A read-write autocommit connection in WAL mode, schema up to date (creates the file).

    Callers group writes with explicit ``BEGIN IMMEDIATE`` / ``COMMIT``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")
    migrate(db)
    return db


def connect_ro(path: Path) -> sqlite3.Connection:
    """A connection SQLite itself keeps read-only (`mode=ro` URI); every write fails."""
    if not path.is_file():
        raise ConfigError(
            f"no error database at {path}; start `nightfix-errors collect --db {path}` first"
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA query_only=ON")
        missing = pending(db)
    except sqlite3.Error as exc:
        raise BackendError(f"cannot read {path}: {exc}") from None
    if missing:
        db.close()
        raise BackendError(
            f"{path} is not an up-to-date nightfix-errors database (missing {', '.join(missing)});"
            " run `nightfix-errors collect` or `project list` on it once to migrate it"
        )
    db.row_factory = sqlite3.Row
    return db
