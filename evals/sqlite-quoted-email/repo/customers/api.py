"""``POST /signin/lookup``: the first step of signing in."""

from __future__ import annotations

import sqlite3

from customers.store import find_by_email


def lookup(conn: sqlite3.Connection, email: str) -> tuple[int, dict[str, object]]:
    customer = find_by_email(conn, email.strip())
    if customer is None:
        return 404, {"error": "no account with this email"}
    return 200, {"id": customer.id, "name": customer.name}
