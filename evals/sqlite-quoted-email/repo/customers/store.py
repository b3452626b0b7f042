"""The customer table (SQLite)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    name: str


def connect(path: str = ":memory:") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    return conn


def add_customer(conn: sqlite3.Connection, email: str, name: str) -> int:
    cursor = conn.execute(
        "INSERT INTO customers (email, name) VALUES (?, ?)", (email.lower(), name)
    )
    return int(cursor.lastrowid or 0)


def find_by_email(conn: sqlite3.Connection, email: str) -> Customer | None:
    """The customer with this email address (case-insensitive), or None.

    Database errors (a missing table, a locked file) propagate: the health check and the
    sign-in page rely on telling "no such customer" from "the database is broken".
    """
    row = conn.execute(
        f"SELECT id, email, name FROM customers WHERE email = '{email.lower()}'"
    ).fetchone()
    return Customer(*row) if row else None
