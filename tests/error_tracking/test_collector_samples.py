"""Sentry's own sample events are accepted on both endpoints, in every body encoding."""

from __future__ import annotations

import gzip
import json
import signal
import sqlite3
import sys
import threading
import uuid
import zlib
from pathlib import Path

import brotli
import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import SAMPLES, Collector, envelope, python_event, start_collector, wait_for

ACCEPTED = ["python-modern.json", "javascript.json", "pii.json"]
ENCODERS = {
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


def sample(name: str) -> dict:
    event = json.loads((SAMPLES / name).read_text())
    event["event_id"] = uuid.uuid4().hex
    return event


@pytest.mark.parametrize("name", ACCEPTED)
@pytest.mark.parametrize("kind", ["envelope", "store"])
def test_reference_sample_is_accepted(collector: Collector, name: str, kind: str) -> None:
    event = sample(name)
    body = envelope(event) if kind == "envelope" else json.dumps(event).encode()
    r = collector.post(body, kind=kind)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == event["event_id"]
    collector.wait_committed(1)
    with sqlite3.connect(collector.db) as conn:
        title, culprit = conn.execute("SELECT title, culprit FROM issues").fetchone()
    expected = {
        "python-modern.json": (
            "Exception: This is an example Python exception",
            "__main__ in main",
        ),
        "javascript.json": ("TypeError: Object [object Object] has no method 'updateFrom'", None),
        "pii.json": (
            "RuntimeError: Invalid device: A949AE01EBB07300D62AE0178F0944DD21F8C98C",
            "__main__ in crash",
        ),
    }[name]
    assert title == expected[0]
    if expected[1]:
        assert culprit == expected[1]


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_every_body_encoding_is_accepted(collector: Collector, encoding: str) -> None:
    event = python_event()
    body = ENCODERS[encoding](envelope(event))
    r = collector.post(body, encoding=None, headers={"Content-Encoding": encoding})
    assert r.status_code == 200, r.text
    collector.wait_committed(1)


def test_non_event_items_are_accepted_and_dropped(collector: Collector) -> None:
    session = (b'{"type":"session"}', b'{"sid":"x","status":"ok"}')
    body = b"{}\n" + session[0] + b"\n" + session[1] + b"\n"
    r = collector.post(body)
    assert r.status_code == 200 and r.json()["id"] is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_with_events_in_flight_commits_every_accepted_event(
    db_path: Path, workers: str
) -> None:
    c = start_collector(db_path, "--max-queue", "100000", "--workers", workers)
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender() -> None:
        with httpx2.Client(timeout=30) as client:
            while not stop.is_set():
                event = python_event()
                try:
                    r = client.post(
                        f"{c.url}/api/{c.project_id}/envelope/",
                        content=gzip.compress(envelope(event)),
                        headers={
                            "X-Sentry-Auth": f"Sentry sentry_key={c.key}",
                            "Content-Encoding": "gzip",
                        },
                    )
                except httpx2.HTTPError:
                    return  # the collector stopped listening
                if r.status_code == 200:
                    assert r.json()["id"] == event["event_id"]
                    with lock:
                        accepted.append(event["event_id"])

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for t in threads:
        t.start()
    wait_for(lambda: len(accepted) >= 300, what="300 accepted events")
    c.proc.send_signal(signal.SIGTERM)  # while the senders keep sending
    assert c.proc.wait(timeout=60) == 0
    stop.set()
    for t in threads:
        t.join(timeout=60)
    log = c.proc.stderr.read().decode() if c.proc.stderr else ""
    assert "event=stopped" in log, log
    with sqlite3.connect(db_path) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events")}
    missing = set(accepted) - stored
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events lost; log: {log}"


def test_project_created_while_the_collector_runs_is_accepted(collector: Collector) -> None:
    from nfe_harness import run_cli

    dsn = run_cli("project", "create", "late", db=collector.db).stdout.strip()
    key, pid = dsn.split("://", 1)[1].split("@", 1)[0], int(dsn.rsplit("/", 1)[1])

    def accepted() -> bool:  # keys reload at most once a second per worker
        r = collector.post(envelope(python_event()), key=key, project_id=pid)
        assert r.status_code in (200, 401), r.text
        return r.status_code == 200

    wait_for(accepted, what="the new project's key to be accepted")


def test_extra_scrub_patterns_from_the_command_line(db_path: Path) -> None:
    from nfe_harness import stop_collector

    c = start_collector(db_path, "--scrub-key", "^internal_ref$", "--scrub-value", r"EMP-\d{6}")
    try:
        event = python_event(message="employee EMP-123456 failed", tags={"internal_ref": "zz-77"})
        assert c.post(envelope(event)).status_code == 200
        c.wait_committed(1)
    finally:
        stop_collector(c)
    blob = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert b"EMP-123456" not in blob and b"zz-77" not in blob
    assert b"[Filtered]" in blob
