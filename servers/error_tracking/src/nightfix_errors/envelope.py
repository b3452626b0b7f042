"""Parsing Sentry envelopes and legacy store bodies into event payloads.

An envelope is a JSON header line, then items: a JSON item header line (with `type` and an
optional `length`), then the payload (`length` bytes, or up to the next newline). Only `event`
items (and `error`, an old alias) carry events; sessions, client reports, transactions and
attachments are accepted and dropped, like a collector that only tracks errors should.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

from nightfix_errors.security import IngestRejected, inflate_capped
from nightfix_errors.storage import loads

EVENT_ITEM_TYPES = frozenset({"event", "error"})
MAX_ITEMS = 100


def _json_line(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestRejected(400, f"malformed envelope: {what} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise IngestRejected(400, f"malformed envelope: {what} must be a JSON object")
    return value


def parse_event_json(payload: bytes, where: str) -> Any:
    """One event payload as JSON, or a 400 saying where it broke."""
    try:
        return loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestRejected(400, f"{where} is not valid JSON: {exc}") from None


def envelope_events(body: bytes) -> list[Any]:
    """The event payloads of an envelope (possibly none), decoded as JSON."""
    if not body.strip():
        raise IngestRejected(400, "malformed envelope: empty body")
    pos = body.find(b"\n")
    header_line = body if pos < 0 else body[:pos]
    _json_line(header_line, "the envelope header")
    pos = len(body) if pos < 0 else pos + 1
    events: list[Any] = []
    count = 0
    while pos < len(body):
        end = body.find(b"\n", pos)
        line = body[pos:] if end < 0 else body[pos:end]
        pos = len(body) if end < 0 else end + 1
        if not line.strip():
            continue
        count += 1
        if count > MAX_ITEMS:
            raise IngestRejected(400, f"malformed envelope: more than {MAX_ITEMS} items")
        item = _json_line(line, f"item header {count}")
        length = item.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise IngestRejected(400, f"malformed envelope: item {count} has a bad length")
            if pos + length > len(body):
                raise IngestRejected(400, f"malformed envelope: item {count} is truncated")
            payload = body[pos : pos + length]
            pos += length
            if pos < len(body) and body[pos : pos + 1] == b"\n":
                pos += 1
        else:
            end = body.find(b"\n", pos)
            payload = body[pos:] if end < 0 else body[pos:end]
            pos = len(body) if end < 0 else end + 1
        if item.get("type") in EVENT_ITEM_TYPES:
            events.append(parse_event_json(payload, f"event item {count}"))
    return events


def store_event(body: bytes, max_bytes: int) -> Any:
    """The event of a legacy `/store/` body: JSON, or old SDKs' base64 of zlib-deflated JSON."""
    stripped = body.lstrip()
    if stripped[:1] in (b"{", b"["):
        return parse_event_json(stripped, "the event body")
    try:
        raw = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        return parse_event_json(stripped, "the event body")
    try:
        inflated = inflate_capped(raw, "deflate", max_bytes)
    except IngestRejected as exc:
        if exc.status == 413:
            raise
        inflated = raw
    except zlib.error:
        inflated = raw
    return parse_event_json(inflated, "the event body")
