"""A person changes an issue's status (resolve / ignore / unresolve) through the store.

The MCP server cannot do this (it is read-only); the `nightfix-errors issue` command does.
An event arriving later for a resolved issue reopens it as `regressed` (see `ingest.py`).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Literal

from nightfix_errors.errors import InvalidArgumentError, NotFoundError

Action = Literal["resolve", "ignore", "unresolve"]
_TARGET: dict[str, tuple[str, str | None]] = {
    "resolve": ("resolved", None),
    "ignore": ("ignored", None),
    "unresolve": ("unresolved", "ongoing"),
}


def set_issue_status(db: sqlite3.Connection, issue_id: str, action: Action) -> tuple[str, str]:
    """Apply `action` to an issue; returns (old status, new status)."""
    if not issue_id.isdigit():
        raise InvalidArgumentError(f"issue id must be a number, got {issue_id[:40]!r}")
    status, substatus = _TARGET[action]
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT status FROM issues WHERE id = ?", (int(issue_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"no issue {issue_id}; `list_issues` shows the ids")
        db.execute(
            "UPDATE issues SET status = ?, substatus = ?, status_changed_at = ? WHERE id = ?",
            (status, substatus, time.time(), int(issue_id)),
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return str(row[0]), status
