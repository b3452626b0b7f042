"""The real sentry-sdk, in a subprocess, sends to the real collector; issues are grouped."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import HERE, Collector, run_cli

pytestmark = pytest.mark.e2e


def run_app(c: Collector, bug: str, **env: str) -> None:
    subprocess.run(
        [sys.executable, str(HERE / "sample_app.py"), bug],
        env={
            **os.environ,
            "DSN": c.dsn,
            "SAMPLE_DB_PASSWORD": "x",
            "SAMPLE_AUTH_HEADER": "x",
            **env,
        },
        check=True,
        timeout=60,
    )


def issues(db: Path) -> list[tuple[int, str, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, title, event_count, culprit FROM issues ORDER BY id"
        ).fetchall()


def test_same_bug_twice_raises_the_count_not_the_issue_number(collector: Collector) -> None:
    run_app(collector, "divide")
    collector.wait_committed(1)
    first = issues(collector.db)
    assert [(i[1], i[2]) for i in first] == [("ZeroDivisionError: division by zero", 1)]
    assert first[0][3] == "__main__ in average"

    run_app(collector, "divide", SAMPLE_USER="user-2")
    collector.wait_committed(2)
    second = issues(collector.db)
    assert len(second) == 1
    assert second[0][0] == first[0][0]
    assert second[0][2] == 2
    with sqlite3.connect(collector.db) as conn:
        assert conn.execute("SELECT user_count FROM issues").fetchone()[0] == 2


def test_other_line_of_the_same_function_is_the_same_issue(collector: Collector) -> None:
    run_app(collector, "divide")
    run_app(collector, "divide_other_line")
    collector.wait_committed(2)
    with sqlite3.connect(collector.db) as conn:
        lines = {r[0] for r in conn.execute("SELECT data FROM events")}
    assert len(lines) == 2  # the two events differ (line numbers) ...
    assert [(i[1], i[2]) for i in issues(collector.db)] == [
        ("ZeroDivisionError: division by zero", 2)
    ]  # ... yet they are one issue


def test_a_different_bug_is_a_new_issue(collector: Collector) -> None:
    run_app(collector, "divide")
    run_app(collector, "lookup")
    collector.wait_committed(2)
    titles = [i[1] for i in issues(collector.db)]
    assert titles == ["ZeroDivisionError: division by zero", "KeyError: 'missing-key'"]


def test_resolved_issue_regresses_on_a_new_event(collector: Collector) -> None:
    run_app(collector, "divide")
    collector.wait_committed(1)
    issue_id = str(issues(collector.db)[0][0])
    done = run_cli("issue", "resolve", issue_id, db=collector.db)
    assert "unresolved -> resolved" in done.stdout
    run_app(collector, "divide")
    collector.wait_committed(2)
    with sqlite3.connect(collector.db) as conn:
        row = conn.execute("SELECT status, substatus FROM issues").fetchone()
    assert row == ("unresolved", "regressed")
