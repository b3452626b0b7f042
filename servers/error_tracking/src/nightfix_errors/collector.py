"""`nightfix-errors collect`: a Sentry-compatible ingest endpoint writing to the SQLite store.

`POST /api/<project_id>/envelope/` (what sentry-sdk 2.x sends) and the legacy
`POST /api/<project_id>/store/`. The order of checks is the order of cost: declared size, auth,
streamed size, inflate with a cap, parse, scrub, normalize, then a bounded queue (429 when full).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nightfix_errors.envelope import envelope_events, store_event
from nightfix_errors.ingest import Writer
from nightfix_errors.normalize import InvalidEvent, NormalizedEvent, normalize_event
from nightfix_errors.projects import project_keys
from nightfix_errors.scrub import Scrubber
from nightfix_errors.security import (
    IngestRejected,
    check_body_size,
    check_project_key,
    extract_sentry_key,
    inflate_capped,
)

log = logging.getLogger("nightfix_errors.collector")
KEY_REFRESH_SECONDS = 1.0


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


class _Keys:
    """Project keys, reloaded from the store (at most once a second) when a key is unknown."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._keys = project_keys(db)
        self._loaded = time.monotonic()

    def get(self, key: str | None) -> dict[str, int]:
        stale = time.monotonic() - self._loaded > KEY_REFRESH_SECONDS
        if key and key not in self._keys and stale:
            self._keys = project_keys(self._db)
            self._loaded = time.monotonic()
        return self._keys


def _reject(exc: IngestRejected) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse({"detail": exc.reason}, status_code=exc.status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise IngestRejected(413, f"body is over the {limit}-byte limit; send smaller events")
    return bytes(body)


def build_app(
    db: sqlite3.Connection, key_db: sqlite3.Connection, config: CollectorConfig
) -> Starlette:
    """The ASGI app; `db` is handed to the writer thread, `key_db` is read by handlers."""
    scrubber = Scrubber(config.scrub_keys, config.scrub_values)
    writer = Writer(db, config.max_queue)
    keys = _Keys(key_db)

    def _normalize(payloads: list[Any]) -> list[NormalizedEvent]:
        try:
            return [normalize_event(scrubber.scrub(p)) for p in payloads]
        except InvalidEvent as exc:
            raise IngestRejected(400, f"invalid event: {exc}") from None

    async def ingest(request: Request) -> Response:
        kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        project_id = request.path_params["project_id"]
        try:
            check_body_size(request.headers.get("content-length"), config.max_body_bytes)
            key = extract_sentry_key(request.headers, request.query_params)
            owner = check_project_key(project_id, key, keys.get(key))
            raw = await _read_body(request, config.max_body_bytes)
            body = inflate_capped(
                raw, request.headers.get("content-encoding"), config.max_inflated_bytes
            )
            if kind == "envelope":
                payloads = envelope_events(body)
            else:
                payloads = [store_event(body, config.max_inflated_bytes)]
            events = _normalize(payloads)
            if events and not writer.submit(owner, events):
                raise IngestRejected(
                    429, "collector is overloaded; retry later", config.retry_after_seconds
                )
        except IngestRejected as exc:
            log.info(
                "event=rejected status=%d path=%s reason=%r", exc.status, kind, exc.reason[:200]
            )
            return _reject(exc)
        return JSONResponse({"id": events[0].event_id if events else None})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", **vars(writer.stats)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.close()
            log.info(
                "event=stopped %s", " ".join(f"{k}={v}" for k, v in vars(writer.stats).items())
            )

    routes = [
        Route("/api/{project_id}/envelope/", ingest, methods=["POST"]),
        Route("/api/{project_id}/store/", ingest, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
