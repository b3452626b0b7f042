"""`nightfix-errors collect`: a Sentry-compatible ingest endpoint writing to the SQLite store.

`POST /api/<project_id>/envelope/` (what sentry-sdk 2.x sends) and the legacy
`POST /api/<project_id>/store/`; `GET /healthz` reports writer counters. The order of checks is
the order of cost: declared size, auth, streamed size, inflate with a cap, parse, scrub,
normalize, then a bounded queue (429 + Retry-After when full).

It is a bare ASGI app rather than a framework's: at thousands of events a second the routing
and request objects of a framework cost as much CPU as the ingest work itself.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from nightfix_errors.envelope import envelope_events, store_event
from nightfix_errors.ingest import Writer
from nightfix_errors.normalize import (
    InvalidEvent,
    NormalizedEvent,
    normalize_event,
    stored_fields,
)
from nightfix_errors.notify import Notifier
from nightfix_errors.paths import PathMap
from nightfix_errors.projects import path_maps, project_keys
from nightfix_errors.scrub import Scrubber
from nightfix_errors.security import (
    IngestRejected,
    check_body_size,
    check_json_depth,
    check_project_id,
    check_project_key,
    extract_sentry_key,
    inflate_capped,
)

log = logging.getLogger("nightfix_errors.collector")
KEY_REFRESH_SECONDS = 1.0
PATH_MAP_REFRESH_SECONDS = 2.0
_ROUTE = re.compile(r"/api/([^/]{1,32})/(envelope|store)/?")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class CollectorConfig:
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted, as sent (compressed)."""
    max_inflated_bytes: int = 8 * 1024 * 1024
    """Largest body after inflating gzip/deflate/br."""
    max_queue: int = 10_000
    """Events waiting for commit before the collector answers 429."""
    retry_after_seconds: int = 1
    scrub_keys: list[str] = field(default_factory=list)
    scrub_values: list[str] = field(default_factory=list)
    notify_url: str | None = None
    """Where a new or regressed issue is announced (`nightfix watch --listen`), or None."""
    notify_secret: bytes = b""
    """The secret notifications are signed with (from `--notify-secret-env`)."""
    notify_min_events: int = 1
    """A new issue is announced when it has this many events (a regression at once)."""


class _Keys:
    """Project keys, reloaded from the store (at most once a second) when a key is unknown;
    path maps, reloaded at most every `PATH_MAP_REFRESH_SECONDS`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._keys = project_keys(db)
        self._loaded = time.monotonic()
        self._maps = path_maps(db)
        self._maps_loaded = time.monotonic()

    def get(self, key: str | None) -> dict[str, int]:
        stale = time.monotonic() - self._loaded > KEY_REFRESH_SECONDS
        if key and key not in self._keys and stale:
            self._keys = project_keys(self._db)
            self._loaded = time.monotonic()
        return self._keys

    def path_map(self, project_id: int) -> PathMap:
        if time.monotonic() - self._maps_loaded > PATH_MAP_REFRESH_SECONDS:
            self._maps = path_maps(self._db)
            self._maps_loaded = time.monotonic()
        return self._maps.get(project_id, [])


async def _respond(
    send: Send,
    status: int,
    payload: dict[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise IngestRejected(400, "client disconnected before sending the whole body")
        body += message.get("body", b"")
        if len(body) > limit:
            raise IngestRejected(413, f"body is over the {limit}-byte limit; send smaller events")
        if not message.get("more_body", False):
            return bytes(body)


def build_app(
    db: sqlite3.Connection, key_db: sqlite3.Connection, config: CollectorConfig
) -> ASGIApp:
    """The ASGI app; `db` is handed to the writer thread, `key_db` is read by handlers."""
    scrubber = Scrubber(config.scrub_keys, config.scrub_values)
    notifier = Notifier(config.notify_url, config.notify_secret) if config.notify_url else None
    writer = Writer(
        db, config.max_queue, notifier.submit if notifier else None, config.notify_min_events
    )
    keys = _Keys(key_db)

    def _one(payload: Any, path_map: PathMap) -> NormalizedEvent:
        kept = stored_fields(payload)
        check_json_depth(kept)  # iterative; scrub and normalize recurse
        return normalize_event(scrubber.scrub(kept), path_map=path_map)

    def _normalize(payloads: list[Any], path_map: PathMap) -> list[NormalizedEvent]:
        try:
            return [_one(p, path_map) for p in payloads]
        except InvalidEvent as exc:
            raise IngestRejected(400, f"invalid event: {exc}") from None
        except RecursionError:  # depth is checked before parsing; never let this escape
            raise IngestRejected(400, "event is nested too deeply; send a flatter event") from None

    async def ingest(scope: Scope, receive: Receive, project_id: str, kind: str) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        check_project_id(project_id)
        check_body_size(headers.get("content-length"), config.max_body_bytes)
        key = extract_sentry_key(headers, query)
        owner = check_project_key(project_id, key, keys.get(key))
        raw = await _read_body(receive, config.max_body_bytes)
        body = inflate_capped(raw, headers.get("content-encoding"), config.max_inflated_bytes)
        if kind == "envelope":
            payloads = envelope_events(body)
        else:
            payloads = [store_event(body, config.max_inflated_bytes)]
        events = _normalize(payloads, keys.path_map(owner))
        if events and not writer.submit(owner, events):
            raise IngestRejected(
                429, "collector is overloaded; retry later", config.retry_after_seconds
            )
        return events[0].event_id if events else None

    def stats() -> dict[str, int]:
        return {**vars(writer.stats), **(vars(notifier.stats) if notifier else {})}

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                writer.start()
                if notifier is not None:
                    notifier.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                writer.close()  # commits everything accepted before returning
                if notifier is not None:
                    notifier.close()
                counters = " ".join(f"{k}={v}" for k, v in stats().items())
                log.info("event=stopped %s", counters)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method == "GET":
            await _respond(send, 200, {"status": "ok", **stats()})
            return
        route = _ROUTE.fullmatch(path)
        if route is None:
            await _respond(send, 404, {"detail": "not found; POST /api/<project_id>/envelope/"})
            return
        if method != "POST":
            await _respond(send, 405, {"detail": "use POST"}, [(b"allow", b"POST")])
            return
        try:
            event_id = await ingest(scope, receive, route.group(1), route.group(2))
        except IngestRejected as exc:
            log.info("event=rejected status=%d reason=%r", exc.status, exc.reason[:200])
            extra = [(b"retry-after", str(exc.retry_after).encode())] if exc.retry_after else []
            await _respond(send, exc.status, {"detail": exc.reason}, extra)
            return
        except Exception as exc:  # a bug: one short log line and a 500, never a traceback each
            log.error("event=ingest_failed error=%s", repr(exc)[:200])
            await _respond(send, 500, {"detail": "internal error; the event was not stored"})
            return
        await _respond(send, 200, {"id": event_id})

    return app
