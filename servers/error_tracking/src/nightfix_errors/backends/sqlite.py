"""`sqlite` backend: reads the collector's store through a read-only SQLite connection."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from nightfix_errors.cursors import decode_cursor, encode_cursor, query_scope
from nightfix_errors.db import connect_ro
from nightfix_errors.errors import InvalidArgumentError, NotFoundError
from nightfix_errors.models import (
    PERIOD_SECONDS,
    EventDetail,
    EventPage,
    EventSummary,
    IssueFilter,
    IssuePage,
    IssueStats,
    IssueSummary,
    Period,
    StatsBucket,
)
from nightfix_errors.storage import load_event
from nightfix_errors.text import iso_utc, parse_iso

NEW_FOR_SECONDS = 7 * 86400
_ORDER = {
    "freq": "i.event_count DESC, i.id DESC",
    "recent": "i.last_seen DESC, i.id DESC",
    "first_seen": "i.first_seen DESC, i.id DESC",
}
_ISSUE_COLUMNS = (
    "i.id, p.name AS project, i.title, i.culprit, i.level, i.status, i.substatus, i.event_count,"
    " i.user_count, i.first_seen, i.last_seen, i.transaction_name, i.fingerprint,"
    " i.sdk_deduplicates"
)


def _issue_number(issue_id: str) -> int:
    if not issue_id.strip().isdigit():
        raise NotFoundError(f"no issue {issue_id[:40]!r}: issue ids are numbers; see list_issues")
    return int(issue_id)


class SqliteStore:
    """Read-only `ErrorStore` over the collector's SQLite file."""

    def __init__(self, db_path: Path) -> None:
        self._db = connect_ro(Path(db_path))
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The read-only connection (tests prove writes through it fail)."""
        return self._db

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _summary(self, row: sqlite3.Row) -> IssueSummary:
        issue_id = int(row["id"])
        substatus = row["substatus"] if row["status"] == "unresolved" else None
        if substatus == "new" and row["first_seen"] < time.time() - NEW_FOR_SECONDS:
            substatus = "ongoing"
        envs = self._all("SELECT name FROM issue_environments WHERE issue_id = ?", (issue_id,))
        rels = self._all("SELECT name FROM issue_releases WHERE issue_id = ?", (issue_id,))
        return IssueSummary(
            id=str(issue_id),
            project=row["project"],
            title=row["title"],
            culprit=row["culprit"],
            level=row["level"],
            status=row["status"],
            substatus=substatus,
            count=row["event_count"],
            user_count=row["user_count"],
            first_seen=iso_utc(row["first_seen"]),
            last_seen=iso_utc(row["last_seen"]),
            environments=[r[0] for r in envs],
            releases=[r[0] for r in rels],
            transaction=row["transaction_name"],
            fingerprint=row["fingerprint"],
            permalink=None,
            sdk_deduplicates=bool(row["sdk_deduplicates"]),
        )

    def list_issues(self, filters: IssueFilter, limit: int, cursor: str | None) -> IssuePage:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for column, value in (
            ("p.name", filters.project),
            ("i.level", filters.level),
            ("i.status", filters.status),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if filters.environment is not None:
            where.append(
                "EXISTS (SELECT 1 FROM issue_environments e WHERE e.issue_id = i.id AND e.name = ?)"
            )
            args.append(filters.environment)
        if filters.since is not None:
            try:
                args.append(parse_iso(filters.since))
            except ValueError as exc:
                raise InvalidArgumentError(f"since: {exc}") from None
            where.append("i.last_seen >= ?")
        scope = query_scope("issues", filters.model_dump())
        offset = decode_cursor(cursor, scope)
        rows = self._all(
            f"SELECT {_ISSUE_COLUMNS} FROM issues i JOIN projects p ON p.id = i.project_id"  # noqa: S608 - fixed fragments only
            f" WHERE {' AND '.join(where)} ORDER BY {_ORDER[filters.sort]} LIMIT ? OFFSET ?",
            (*args, limit + 1, offset),
        )
        more = len(rows) > limit
        return IssuePage(
            issues=[self._summary(r) for r in rows[:limit]],
            next_cursor=encode_cursor(offset + limit, scope) if more else None,
        )

    def _issue_row(self, issue_id: str) -> sqlite3.Row:
        rows = self._all(
            f"SELECT {_ISSUE_COLUMNS}, i.latest_event_id FROM issues i"  # noqa: S608 - constant
            " JOIN projects p ON p.id = i.project_id WHERE i.id = ?",
            (_issue_number(issue_id),),
        )
        if not rows:
            raise NotFoundError(f"no issue {issue_id}; list_issues shows the ids that exist")
        return rows[0]

    def get_issue(self, issue_id: str) -> IssueSummary:
        return self._summary(self._issue_row(issue_id))

    def get_latest_event(self, issue_id: str) -> EventDetail | None:
        rows = self._all(
            "SELECT * FROM events WHERE issue_id = ? ORDER BY timestamp DESC, id DESC LIMIT 1",
            (_issue_number(issue_id),),
        )
        return self._detail(rows[0]) if rows else None

    def count_events_since(self, issue_id: str, since_epoch: float) -> int | None:
        rows = self._all(
            "SELECT COUNT(*) FROM events WHERE issue_id = ? AND timestamp >= ?",
            (_issue_number(issue_id), since_epoch),
        )
        return int(rows[0][0])

    def _detail(self, row: sqlite3.Row) -> EventDetail:
        data = load_event(row["data"])
        data.update(
            id=row["event_id"], issue_id=str(row["issue_id"]), timestamp=iso_utc(row["timestamp"])
        )
        return EventDetail.model_validate(data)

    def list_issue_events(self, issue_id: str, limit: int, cursor: str | None) -> EventPage:
        self._issue_row(issue_id)
        scope = query_scope("events", issue_id)
        offset = decode_cursor(cursor, scope)
        rows = self._all(
            "SELECT event_id, issue_id, timestamp, level, environment, release, transaction_name,"
            " message, user_label FROM events WHERE issue_id = ?"
            " ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",
            (int(issue_id), limit + 1, offset),
        )
        events = [
            EventSummary(
                id=r["event_id"],
                issue_id=str(r["issue_id"]),
                timestamp=iso_utc(r["timestamp"]),
                level=r["level"],
                environment=r["environment"],
                release=r["release"],
                transaction=r["transaction_name"],
                message=r["message"],
                user=r["user_label"],
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return EventPage(
            events=events, next_cursor=encode_cursor(offset + limit, scope) if more else None
        )

    def get_event(self, event_id: str) -> EventDetail:
        rows = self._all("SELECT * FROM events WHERE event_id = ?", (event_id.strip().lower(),))
        if not rows:
            raise NotFoundError(
                f"no event {event_id[:64]!r}; list_issue_events shows the event ids of an issue"
            )
        return self._detail(rows[0])

    def get_issue_stats(self, issue_id: str, period: Period, buckets: int) -> IssueStats:
        self._issue_row(issue_id)
        interval = math.ceil(PERIOD_SECONDS[period] / buckets)
        end = math.ceil(time.time() / interval) * interval
        start = end - buckets * interval
        rows = self._all(
            "SELECT CAST((timestamp - ?) / ? AS INTEGER) AS b, COUNT(*) FROM events"
            " WHERE issue_id = ? AND timestamp >= ? AND timestamp < ? GROUP BY b",
            (start, interval, int(issue_id), start, end),
        )
        counts = {int(r[0]): int(r[1]) for r in rows}
        series = [
            StatsBucket(start=iso_utc(start + i * interval), count=counts.get(i, 0))
            for i in range(buckets)
        ]
        return IssueStats(
            issue_id=issue_id,
            period=period,
            interval_seconds=interval,
            buckets=series,
            total=sum(counts.values()),
        )
