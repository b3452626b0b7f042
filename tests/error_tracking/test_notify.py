"""`collect --notify`: which issues are announced, and what the announcement looks like on the
wire (signed as a Sentry integration webhook, accepted by `nightfix watch --listen`'s check)."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nfe_harness import python_event, wait_for

from nightfix_errors.db import connect_rw
from nightfix_errors.ingest import WriterStats, write_batch
from nightfix_errors.normalize import normalize_event
from nightfix_errors.notify import Notifier
from nightfix_errors.projects import create_project

SECRET = b"notify-test-secret"


def events(n: int, message: str = "boom") -> list[Any]:
    return [normalize_event(python_event(message=message)) for _ in range(n)]


def test_new_issue_is_announced_at_its_nth_event_and_a_regression_at_once(tmp_path: Path):
    db = connect_rw(tmp_path / "errors.db")
    project = create_project(db, "app")
    first = write_batch(db, [(project.id, e) for e in events(2)], WriterStats(), announce_at=3)
    assert first == []  # two events: not yet worth a run with min_events 3
    third = write_batch(db, [(project.id, e) for e in events(2)], WriterStats(), announce_at=3)
    [(issue_id, change)] = third
    assert change == "new"
    later = write_batch(db, [(project.id, e) for e in events(3)], WriterStats(), announce_at=3)
    assert later == []  # announced once
    db.execute("UPDATE issues SET status='resolved', substatus=NULL WHERE id=?", (issue_id,))
    back = write_batch(db, [(project.id, e) for e in events(2)], WriterStats(), announce_at=3)
    assert back == [(issue_id, "regressed")]
    assert write_batch(db, [(project.id, e) for e in events(1)], WriterStats()) == []
    db.close()


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_notification_is_signed_like_a_sentry_webhook(receiver: Receiver):
    notifier = Notifier(receiver.url, SECRET)
    notifier.start()
    notifier.submit([(12, "new"), (13, "regressed")])
    wait_for(lambda: len(receiver.got) == 2, what="two notifications")
    notifier.close()
    assert notifier.stats.notified == 2
    (headers, body), (_, regressed) = receiver.got
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["sentry-hook-signature"] == expected
    assert headers["sentry-hook-resource"] == "issue" and headers["request-id"]
    payload = json.loads(body)
    assert payload["action"] == "created" and payload["data"]["issue"]["id"] == "12"
    assert json.loads(regressed)["action"] == "unresolved"
    assert body != regressed and payload["delivery_id"] == headers["request-id"]


def test_collector_signature_is_accepted_by_the_watch_listener_check(receiver: Receiver):
    """The two distributions cannot share code: their signatures must agree."""
    from nightfix.autonomy.push import parse_delivery
    from nightfix.autonomy.push_security import check_signature

    notifier = Notifier(receiver.url, SECRET)
    notifier.start()
    notifier.submit([(7, "new")])
    wait_for(lambda: len(receiver.got) == 1, what="a notification")
    notifier.close()
    [(headers, body)] = receiver.got
    check_signature(SECRET, body, headers["sentry-hook-signature"])
    delivery = parse_delivery(headers["sentry-hook-resource"], body)
    assert delivery is not None and delivery.issue_id == "7"


def test_unreachable_listener_is_counted_not_fatal():
    notifier = Notifier("http://127.0.0.1:9/webhook", SECRET)  # discard port: nothing listens
    notifier.start()
    notifier.submit([(1, "new")])
    notifier.close()
    assert notifier.stats.notify_failed == 1 and notifier.stats.notified == 0
