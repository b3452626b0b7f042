"""Opaque pagination cursors bound to the query that produced them."""

from __future__ import annotations

import base64
import hashlib
import json

from nightfix_errors.errors import InvalidCursorError


def query_scope(*parts: object) -> str:
    """A short hash of a query's parameters, so a cursor only continues that query."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def encode_cursor(offset: int, scope: str) -> str:
    raw = json.dumps({"o": offset, "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, scope: str) -> int:
    """The offset a cursor points at (0 for None); `InvalidCursorError` if it is not ours."""
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offset, cursor_scope = data["o"], data["s"]
    except (ValueError, KeyError, TypeError):
        raise InvalidCursorError(
            "cursor is not one this server returned; call again without `cursor` to start over"
        ) from None
    if cursor_scope != scope or not isinstance(offset, int) or offset < 0:
        raise InvalidCursorError(
            "cursor belongs to another query; pass the same filters as the call that returned it,"
            " or call again without `cursor`"
        )
    return offset
