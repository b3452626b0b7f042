"""`serve` cannot change the store: SQLite itself refuses writes on its connection."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import fill_store, python_event

from nightfix_errors.backends.sqlite import SqliteStore
from nightfix_errors.db import connect_ro
from nightfix_errors.errors import BackendError, ConfigError


@pytest.fixture
def store(db_path: Path) -> SqliteStore:
    fill_store(db_path, [python_event()])
    return SqliteStore(db_path=db_path)


def test_write_through_the_serving_connection_fails(store: SqliteStore) -> None:
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
        store.connection.execute("UPDATE issues SET status = 'resolved'")
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
        store.connection.execute("DELETE FROM events")


def test_turning_query_only_off_still_cannot_write(store: SqliteStore) -> None:
    store.connection.execute("PRAGMA query_only=OFF")  # a bug or injected SQL could try this
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.connection.execute(
            "INSERT INTO projects (name, public_key, created_at) VALUES ('x', 'y', 0)"
        )
    with pytest.raises(sqlite3.OperationalError):
        store.connection.execute("CREATE TABLE evil (x)")


def test_serving_a_missing_database_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(ConfigError, match="nightfix-errors collect"):
        connect_ro(path)
    assert not path.exists()


def test_serving_a_database_without_the_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(BackendError, match="not an up-to-date nightfix-errors database"):
        connect_ro(path)
