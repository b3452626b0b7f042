"""The writer thread: an event it cannot store is refused and counted, and the thread goes on."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import python_event, wait_for

from nightfix_errors.db import connect_rw
from nightfix_errors.ingest import Writer
from nightfix_errors.normalize import NormalizedEvent, normalize_event
from nightfix_errors.projects import create_project


def _unstorable() -> NormalizedEvent:
    """A lone surrogate cannot be encoded for SQLite: UnicodeEncodeError, not sqlite3.Error."""
    event = normalize_event(python_event())
    return dataclasses.replace(event, data={**event.data, "message": "\ud800"})


def test_event_that_breaks_the_writer_is_counted_and_the_writer_goes_on(tmp_path: Path) -> None:
    db = connect_rw(tmp_path / "errors.db")
    project = create_project(db, "app")
    writer = Writer(db, max_queue=10)
    neighbour, later = normalize_event(python_event()), normalize_event(python_event())
    assert writer.submit(project.id, [_unstorable(), neighbour])  # queued first: one batch
    writer.start()
    try:
        wait_for(lambda: writer.stats.failed == 1, what="the bad event to be counted")
        assert writer.submit(project.id, [_unstorable()])
        wait_for(lambda: writer.stats.failed == 2, what="a second bad event to be counted")
        assert writer.submit(project.id, [later])
        wait_for(lambda: writer.stats.committed == 2, what="the good events")
    finally:
        writer.close()
    stored = {row[0] for row in db.execute("SELECT event_id FROM events")}
    assert stored == {neighbour.event_id, later.event_id}  # the bad one went alone
    db.close()
