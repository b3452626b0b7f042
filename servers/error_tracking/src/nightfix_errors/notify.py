"""`collect --notify URL`: tell `nightfix watch --listen` at once when an issue is new or regressed.

The notification has the shape of a Sentry integration webhook (`Sentry-Hook-Resource: issue`,
action `created` for a new issue, `unresolved` for a regression, `data.issue.id`) and is signed
the same way: `Sentry-Hook-Signature` is the HMAC-SHA256 hex of the raw body under the shared
secret. The body carries a fresh delivery id and the send time, so no two bodies are alike and
a replayed one is recognised. Sending happens on a thread of its own with a bounded queue: a
slow or absent listener never slows ingest; what cannot be delivered after a few tries is
dropped and counted (the watcher's poll finds the issue anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

from nightfix_errors.ingest import Change

log = logging.getLogger("nightfix_errors.notify")
ATTEMPTS = 3
RETRY_BASE_S = 0.5
TIMEOUT_S = 5.0
MAX_PENDING = 1000
ACTIONS = {"new": "created", "regressed": "unresolved"}


@dataclass
class NotifyStats:
    notified: int = 0
    notify_failed: int = 0
    notify_dropped: int = 0


def sign(secret: bytes, body: bytes) -> str:
    """HMAC-SHA256 hex of the body: what Sentry puts in `Sentry-Hook-Signature`."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def notification(issue_id: int, change: str, now: float) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one notification."""
    delivery = str(uuid.uuid4())
    payload = {
        "action": ACTIONS[change],
        "data": {"issue": {"id": str(issue_id), "substatus": change}},
        "actor": {"type": "application", "id": "nightfix-errors", "name": "nightfix-errors"},
        "delivery_id": delivery,
        "sent_at": now,
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "Request-ID": delivery,
        "Sentry-Hook-Resource": "issue",
        "Sentry-Hook-Timestamp": str(int(now)),
    }
    return body, headers


class Notifier:
    """Posts signed notifications from a thread; :meth:`close` sends what is queued first."""

    def __init__(self, url: str, secret: bytes) -> None:
        self.url, self._secret = url, secret
        self._queue: queue.Queue[Change | None] = queue.Queue(MAX_PENDING)
        self._thread = threading.Thread(target=self._run, name="nightfix-notify", daemon=True)
        self.stats = NotifyStats()

    def start(self) -> None:
        self._thread.start()

    def submit(self, changes: list[Change]) -> None:
        for change in changes:
            try:
                self._queue.put_nowait(change)
            except queue.Full:
                self.stats.notify_dropped += 1
                log.warning("event=notify_dropped issue=%s reason=queue_full", change[0])

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=ATTEMPTS * (TIMEOUT_S + 4 * RETRY_BASE_S) + 1)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._send(*item)

    def _send(self, issue_id: int, change: str) -> None:
        body, headers = notification(issue_id, change, time.time())
        headers["Sentry-Hook-Signature"] = sign(self._secret, body)
        for attempt in range(1, ATTEMPTS + 1):
            # the URL's scheme is checked (http/https) when the collector starts
            request = urllib.request.Request(self.url, body, headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                status, why = 0, str(exc)
            if 200 <= status < 300:
                self.stats.notified += 1
                log.info("event=notified issue=%d change=%s", issue_id, change)
                return
            if 400 <= status < 500:  # refused (bad secret, replay): trying again will not help
                break
            why = f"status {status}" if status else why
            if attempt < ATTEMPTS:
                time.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        self.stats.notify_failed += 1
        log.warning("event=notify_failed issue=%d change=%s why=%r", issue_id, change, why)
