"""Push triggers: what a verified delivery means, what was received, and what waits.

A delivery (a Sentry integration webhook, or the collector's ``--notify``, which speaks the
same format) is reduced to one issue id. :class:`PushLedger` remembers every delivery's
``Request-ID`` and body digest in the watch's state database (so a replay is refused even
after a restart) and counts every outcome; :class:`PushInbox` holds the issue ids waiting for
the watch loop, which evaluates each with the same trigger rules as a poll. A pending issue is
held in memory only: if the watcher stops first, the poll at its next start finds the issue.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass

from nightfix import state
from nightfix.autonomy.push_security import DeliveryRefused, check_issue_id
from nightfix.autonomy.watch_state import ACTIVE, WatchState, iso, now_utc

MIGRATIONS: list[state.Migration] = [
    (
        "104_push_deliveries",
        """
        CREATE TABLE push_deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT UNIQUE,
            body_digest TEXT NOT NULL UNIQUE,
            resource TEXT NOT NULL,
            issue_id TEXT,
            received_at TEXT NOT NULL
        );
        CREATE TABLE push_counters (name TEXT PRIMARY KEY, count INTEGER NOT NULL)
        """,
    ),
]

ACTIONS = {"issue": {"created", "unresolved"}, "event_alert": {"triggered"}}
"""Sentry-Hook-Resource -> the actions that may start a run (``unresolved``: a regression)."""
COUNTERS = (
    "accepted",
    "duplicate_issue",
    "replayed",
    "bad_signature",
    "stale",
    "too_large",
    "malformed",
    "ignored",
)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery that names an issue."""

    resource: str
    action: str
    issue_id: str


def parse_delivery(resource: str | None, body: bytes) -> Delivery | None:
    """The issue a verified body names, or ``None`` for a resource/action that starts nothing.

    ``issue``/``created`` and ``issue``/``unresolved`` carry ``data.issue.id``;
    ``event_alert``/``triggered`` (an issue alert rule) carries ``data.event.issue_id``.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeliveryRefused(400, "malformed", f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise DeliveryRefused(400, "malformed", "body is not a JSON object")
    action = payload.get("action")
    if resource not in ACTIONS or action not in ACTIONS[resource]:
        return None
    data = payload.get("data")
    holder = (
        data.get("issue" if resource == "issue" else "event") if isinstance(data, dict) else None
    )
    if not isinstance(holder, dict):
        where = "data.issue" if resource == "issue" else "data.event"
        raise DeliveryRefused(400, "malformed", f"a {resource} delivery needs an object at {where}")
    raw = holder.get("id" if resource == "issue" else "issue_id")
    return Delivery(str(resource), str(action), check_issue_id(raw))


class PushLedger:
    """Deliveries received and outcome counters, in the watch's state database."""

    def __init__(self, watch_state: WatchState) -> None:
        self.state = watch_state
        self.conn: sqlite3.Connection = watch_state.conn
        state.apply_migrations(self.conn, MIGRATIONS)

    def record(
        self, request_id: str | None, body_digest: str, resource: str, issue_id: str | None
    ) -> None:
        """Remember a delivery; refuse (409) one whose ``Request-ID`` or body came before."""
        try:
            self.conn.execute(
                "INSERT INTO push_deliveries (request_id, body_digest, resource, issue_id,"
                " received_at) VALUES (?, ?, ?, ?, ?)",
                (request_id or None, body_digest, resource, issue_id, iso(now_utc())),
            )
        except sqlite3.IntegrityError:
            raise DeliveryRefused(
                409, "replayed", "this delivery (its Request-ID or its body) was received before"
            ) from None

    def count(self, name: str) -> None:
        self.conn.execute(
            "INSERT INTO push_counters VALUES (?, 1)"
            " ON CONFLICT(name) DO UPDATE SET count = count + 1",
            (name,),
        )

    def counters(self) -> dict[str, int]:
        found = dict(self.conn.execute("SELECT name, count FROM push_counters").fetchall())
        return {name: int(found.get(name, 0)) for name in COUNTERS}

    def active_run(self, issue_id: str) -> str | None:
        marks = ",".join("?" * len(ACTIVE))
        row = self.conn.execute(
            f"SELECT run_id FROM watch_runs WHERE issue_id=? AND status IN ({marks})",  # noqa: S608
            (issue_id, *ACTIVE),
        ).fetchone()
        return str(row[0]) if row else None


class PushInbox:
    """Issue ids waiting for the watch loop, each at most once, and the event that wakes it."""

    def __init__(self) -> None:
        self.pending: dict[str, Delivery] = {}
        self.arrived = asyncio.Event()

    def put(self, delivery: Delivery) -> bool:
        """Queue the delivery's issue; False when it already waits."""
        if delivery.issue_id in self.pending:
            return False
        self.pending[delivery.issue_id] = delivery
        self.arrived.set()
        return True

    def take(self) -> list[Delivery]:
        taken, self.pending = list(self.pending.values()), {}
        self.arrived.clear()
        return taken
