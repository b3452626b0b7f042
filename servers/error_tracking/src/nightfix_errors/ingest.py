"""Writing events into issues: a bounded queue and one writer thread committing in batches.

Request handlers `submit()` normalized events; when the queue is full they are told so at once
(the collector answers 429) instead of queueing without bound. The writer commits up to
`BATCH` events per transaction. `close()` drains the queue, so every accepted event is committed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nightfix_errors.normalize import NormalizedEvent
from nightfix_errors.storage import dump_event

log = logging.getLogger("nightfix_errors.ingest")
BATCH = 500
Change = tuple[int, str]
"""An issue that became new or regressed: (issue id, ``new`` | ``regressed``)."""


@dataclass
class WriterStats:
    accepted: int = 0
    committed: int = 0
    duplicates: int = 0
    failed: int = 0


def write_event(
    db: sqlite3.Connection,
    project_id: int,
    ev: NormalizedEvent,
    changes: list[Change] | None = None,
    announce_at: int = 1,
) -> bool:
    """Store one event and update its issue, inside the caller's transaction.

    Returns False for a duplicate `event_id` (SDK retries are idempotent). With `changes`, an
    issue worth announcing is appended to it: one that regresses with this event, and a new
    one when this is its `announce_at`-th event (a new issue with fewer events than a
    trigger's minimum would not start a run yet).
    """
    if db.execute("SELECT 1 FROM events WHERE event_id = ?", (ev.event_id,)).fetchone():
        return False
    row = db.execute(
        "SELECT id, status, last_seen FROM issues WHERE project_id = ? AND fingerprint = ?",
        (project_id, ev.fingerprint),
    ).fetchone()
    if row is None:
        cur = db.execute(
            "INSERT INTO issues (project_id, fingerprint, title, culprit, level, status,"
            " substatus, first_seen, last_seen, latest_event_id, transaction_name,"
            " sdk_deduplicates) VALUES (?, ?, ?, ?, ?, 'unresolved', 'new', ?, ?, ?, ?, ?)",
            (
                project_id,
                ev.fingerprint,
                ev.title,
                ev.culprit,
                ev.level,
                ev.timestamp,
                ev.timestamp,
                ev.event_id,
                ev.transaction,
                int(ev.sdk_deduplicates),
            ),
        )
        issue_id = cur.lastrowid
        latest = True
        change = ""
    else:
        issue_id, status, last_seen = int(row[0]), str(row[1]), float(row[2])
        latest = ev.timestamp >= last_seen
        change = "regressed" if status == "resolved" else ""
        if status == "resolved":
            db.execute(
                "UPDATE issues SET status = 'unresolved', substatus = 'regressed',"
                " status_changed_at = ? WHERE id = ?",
                (time.time(), issue_id),
            )
    db.execute(
        "INSERT INTO events (event_id, issue_id, project_id, timestamp, received, level,"
        " environment, release, transaction_name, message, user_label, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ev.event_id,
            issue_id,
            project_id,
            ev.timestamp,
            time.time(),
            ev.level,
            ev.environment,
            ev.release,
            ev.transaction,
            ev.data.get("message"),
            ev.user_label,
            dump_event(ev.data),
        ),
    )
    new_user = 0
    if ev.user_key:
        cur = db.execute("INSERT OR IGNORE INTO issue_users VALUES (?, ?)", (issue_id, ev.user_key))
        new_user = cur.rowcount
    if ev.environment:
        db.execute(
            "INSERT OR IGNORE INTO issue_environments VALUES (?, ?)", (issue_id, ev.environment)
        )
    if ev.release:
        db.execute("INSERT OR IGNORE INTO issue_releases VALUES (?, ?)", (issue_id, ev.release))
    db.execute(
        "UPDATE issues SET event_count = event_count + 1, user_count = user_count + ?,"
        " first_seen = MIN(first_seen, ?), last_seen = MAX(last_seen, ?) WHERE id = ?",
        (new_user, ev.timestamp, ev.timestamp, issue_id),
    )
    if latest and row is not None:
        db.execute(
            "UPDATE issues SET latest_event_id = ?, title = ?, culprit = ?, level = ?,"
            " transaction_name = ?, sdk_deduplicates = ? WHERE id = ?",
            (
                ev.event_id,
                ev.title,
                ev.culprit,
                ev.level,
                ev.transaction,
                int(ev.sdk_deduplicates),
                issue_id,
            ),
        )
    if changes is not None and issue_id is not None:
        if change != "regressed":
            count, substatus = db.execute(
                "SELECT event_count, substatus FROM issues WHERE id = ?", (issue_id,)
            ).fetchone()
            change = "new" if substatus == "new" and count == announce_at else ""
        if change:
            changes.append((int(issue_id), change))
    return True


def write_batch(
    db: sqlite3.Connection,
    batch: list[tuple[int, NormalizedEvent]],
    stats: WriterStats,
    announce_at: int | None = None,
) -> list[Change]:
    """Commit `batch` in one transaction; one bad event is rolled back alone.

    Returns the issues the batch made new or regressed (known only once committed).
    """
    changes: list[Change] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for project_id, ev in batch:
            db.execute("SAVEPOINT ev")
            mark = len(changes)
            try:
                found = changes if announce_at is not None else None
                stored = write_event(db, project_id, ev, found, announce_at or 1)
            except Exception as exc:  # any failure refuses this event alone, never the batch
                db.execute("ROLLBACK TO ev")
                del changes[mark:]
                stats.failed += 1
                log.error("event=store_failed event_id=%s error=%s", ev.event_id, repr(exc)[:200])
                stored = False
            else:
                stats.duplicates += 0 if stored else 1
            db.execute("RELEASE ev")
            stats.committed += 1 if stored else 0
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return changes


class Writer:
    """A bounded queue drained by one thread into SQLite."""

    def __init__(
        self,
        db: sqlite3.Connection,
        max_queue: int,
        on_changes: Callable[[list[Change]], None] | None = None,
        announce_at: int = 1,
    ) -> None:
        self._db = db
        self._on_changes = on_changes
        self._announce_at = announce_at if on_changes is not None else None
        self._queue: queue.Queue[tuple[int, NormalizedEvent] | None] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="nightfix-writer", daemon=True)
        self._lock = threading.Lock()
        self.stats = WriterStats()

    def start(self) -> None:
        self._thread.start()

    def submit(self, project_id: int, events: list[NormalizedEvent]) -> bool:
        """Queue `events` for commit; False (nothing queued) when the queue lacks room."""
        with self._lock:
            if self._queue.maxsize - self._queue.qsize() < len(events):
                return False
            for ev in events:
                self._queue.put_nowait((project_id, ev))
            self.stats.accepted += len(events)
        return True

    def close(self) -> None:
        """Stop after committing everything already queued."""
        while self._thread.is_alive():  # a dead writer would never make room in a full queue
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _commit(self, batch: list[tuple[int, NormalizedEvent]]) -> None:
        """Commit `batch`; whatever goes wrong, it is counted as failed and the thread goes on."""
        try:
            changes = write_batch(self._db, batch, self.stats, self._announce_at)
        except Exception as exc:
            self.stats.failed += len(batch)
            log.error("event=batch_failed size=%d error=%s", len(batch), repr(exc)[:200])
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
            return
        if changes and self._on_changes is not None:
            self._on_changes(changes)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            stop = first is None
            batch = [] if first is None else [first]
            while not stop and len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                self._commit(batch)
            if stop:
                return
