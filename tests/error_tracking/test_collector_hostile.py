"""Hostile input to the real collector over HTTP, each test named after the attack it stops.

The collector runs as a subprocess (`nightfix-errors collect`) whose stderr is a pipe this test
never reads until the end: a collector that writes much per bad request, or blocks when its log
reader stalls, hangs here.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import Collector, envelope, python_event, start_collector, wait_for

DEEP = 900  # levels; before the fix each such event raised RecursionError inside the request
ROUNDS = 300  # per endpoint: far more log lines than a 64 KiB pipe holds


def _deep_event() -> dict[str, object]:
    event = python_event()
    event["tags"] = json.loads('{"a":' * DEEP + "1" + "}" * DEEP)
    return event


def _post_gzip(client: httpx2.Client, c: Collector, body: bytes, kind: str) -> httpx2.Response:
    headers = {
        "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={c.key}",
        "Content-Encoding": "gzip",
    }
    return client.post(
        f"{c.url}/api/{c.project_id}/{kind}/", content=gzip.compress(body), headers=headers
    )


def _stored(c: Collector, event_id: str) -> bool:
    with sqlite3.connect(c.db, timeout=30) as conn:
        row = conn.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
    return row is not None


def test_deeply_nested_events_with_a_stalled_log_reader_are_refused_and_cannot_hang_it(
    tmp_path: Path,
) -> None:
    c = start_collector(tmp_path / "errors.db")  # stderr: a pipe nobody reads until the end
    try:
        deep = _deep_event()
        envelope_body, store_body = envelope(deep), json.dumps(deep).encode()
        assert len(gzip.compress(envelope_body)) < 4096  # a few KB of attack per request
        with httpx2.Client(timeout=60) as client:
            for _ in range(ROUNDS):
                for kind, body in (("envelope", envelope_body), ("store", store_body)):
                    r = _post_gzip(client, c, body, kind)
                    assert r.status_code == 400, r.text
                    assert "nested more than 64 levels" in r.json()["detail"]
            for body in (b'{"a":' * 5000 + b"1" + b"}" * 5000, b"[" * 100_000 + b"]" * 100_000):
                r = _post_gzip(client, c, body, "store")  # past the parser's own limit
                assert r.status_code == 400, r.text
            good = python_event()
            r = _post_gzip(client, c, envelope(good), "envelope")
            assert r.status_code == 200, r.text
        wait_for(lambda: _stored(c, good["event_id"]), what="the good event to be committed")
        c.proc.terminate()
        assert c.proc.wait(timeout=60) == 0  # the timeout only bounds a hang
    finally:
        if c.proc.poll() is None:  # a failed assertion: stop it so its workers go too
            c.proc.terminate()
            try:
                c.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
    log = c.proc.stderr.read().decode() if c.proc.stderr else ""
    assert "Traceback" not in log and "RecursionError" not in log, log[-2000:]


def test_unicode_digit_project_id_in_the_url_is_400_not_500(collector: Collector) -> None:
    for project_id in ("\u00b2", "\u0661", "1\u00b9"):
        r = httpx2.post(
            f"{collector.url}/api/{project_id}/envelope/",
            content=envelope(python_event()),
            headers={"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={collector.key}"},
            timeout=30,
        )
        assert r.status_code == 400, r.text
        assert "must be a number" in r.json()["detail"]
    good = python_event()
    assert collector.post(envelope(good)).status_code == 200
    wait_for(lambda: _stored(collector, good["event_id"]), what="the good event")


def test_secrets_in_source_context_lines_never_reach_the_store(collector: Collector) -> None:
    event = python_event()
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    frame["pre_context"] = [
        'db_password = "hunter2-in-pre-context"',
        'settings = {"api_key": "ak-in-a-mapping-123", "host": "db.internal"}',
    ]
    frame["context_line"] = "    connect(host, token='tok-in-context-line-456')"
    frame["post_context"] = ["    auth = 'ghp_abcdefghijklmnopqrstuvwxyz0123'"]
    event["exception"]["values"][-1]["value"] = "login refused for hunter2-in-pre-context"
    r = collector.post(envelope(event))
    assert r.status_code == 200, r.text
    wait_for(lambda: _stored(collector, event["event_id"]), what="the event")
    with sqlite3.connect(collector.db) as conn:
        (data,) = conn.execute(
            "SELECT data FROM events WHERE event_id = ?", (event["event_id"],)
        ).fetchone()
    for secret in ("hunter2", "ak-in-a-mapping", "tok-in-context-line", "ghp_abc"):
        assert secret not in data, secret
    stored = json.loads(data)["exceptions"][-1]["frames"][-1]
    assert stored["pre_context"][0] == "db_password = [Filtered]"
    assert '"host": "db.internal"' in stored["pre_context"][1]  # only the secret value went
    assert stored["context_line"] == "    connect(host, token=[Filtered])"
