"""The writer thread: an event it cannot store is refused and counted, and the thread goes on."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import python_event, wait_for

from nightfix_errors.db import connect_rw
from nightfix_errors.ingest import Writer
from nightfix_errors.normalize import normalize_event
from nightfix_errors.projects import create_project


def test_event_that_breaks_the_writer_is_counted_and_the_writer_goes_on(tmp_path: Path) -> None:
    db = connect_rw(tmp_path / "errors.db")
    project = create_project(db, "app")
    writer = Writer(db, max_queue=10)
    writer.start()
    try:
        good = normalize_event(python_event())
        # A lone surrogate cannot be encoded for SQLite: UnicodeEncodeError, not sqlite3.Error.
        bad = dataclasses.replace(
            normalize_event(python_event()), data={**good.data, "message": "\ud800"}
        )
        assert writer.submit(project.id, [bad])
        wait_for(lambda: writer.stats.failed == 1, what="the bad event to be counted")
        assert writer.submit(project.id, [good])
        wait_for(lambda: writer.stats.committed == 1, what="the good event after it")
    finally:
        writer.close()
    rows = db.execute("SELECT event_id FROM events").fetchall()
    assert rows == [(good.event_id,)]
    db.close()
