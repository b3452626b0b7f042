"""Fail-closed checks at the collector's door and on the way out to a model.

Each function refuses (raises `IngestRejected` with the HTTP status and a reason) unless the
input is positively acceptable: a body within its size limit, an encoding we know, an inflated
size within its cap (checked while inflating, so a zip bomb is never inflated whole), a
`sentry_key` that belongs to the project in the URL, JSON nested within `MAX_JSON_DEPTH`, a
project id of ASCII digits. Untrusted text going to a model is cleaned by `untrusted.py`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from typing import Any

import brotli

INFLATE_CHUNK = 64 * 1024
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in a payload. Real events nest about a dozen
levels (event > exception > values > stacktrace > frames > vars > a few levels of data);
scrubbing and normalizing walk the tree recursively, so depth must be bounded first."""


class IngestRejected(Exception):
    """The collector refuses a request; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


def check_json_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse (400) a parsed event nested deeper than `max_depth`, before anything walks it.

    Iterative, level by level, so no depth can exhaust the stack here; scrubbing and
    normalizing, which recurse, run only on what passed. (Parsing is orjson's native code,
    which recurses in no Python frame and refuses past 1,024 levels on its own.)
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise IngestRejected(
                400, f"event is nested more than {max_depth} levels deep; send a flatter event"
            )
        below = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below


def check_project_id(project_id: str) -> int:
    """The project id of the URL as a number: ASCII digits only (`²` is a digit to Python)."""
    if not (project_id.isascii() and project_id.isdigit()):
        raise IngestRejected(
            400, "the project id in the URL must be a number; use the path of the project's DSN"
        )
    return int(project_id)


def check_body_size(declared_length: str | None, max_bytes: int) -> None:
    """Refuse a body whose declared Content-Length is over the limit, before reading it."""
    if declared_length is None:
        return
    try:
        length = int(declared_length)
    except ValueError:
        raise IngestRejected(400, "Content-Length is not a number") from None
    if length > max_bytes:
        raise IngestRejected(
            413, f"body of {length} bytes is over the {max_bytes}-byte limit; send smaller events"
        )


def inflate_capped(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Decode a request body by its Content-Encoding, refusing (413) past `max_bytes` out.

    Inflation runs in chunks with an output limit, so a small compressed body that would inflate
    to gigabytes is refused after at most `max_bytes` + one chunk of memory.
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        if len(body) > max_bytes:
            raise IngestRejected(413, f"body is over the {max_bytes}-byte limit")
        return body
    if enc in ("gzip", "x-gzip"):
        return _inflate_zlib(body, zlib.MAX_WBITS | 16, max_bytes, "gzip")
    if enc == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped; some clients send raw deflate. Accept both.
        try:
            return _inflate_zlib(body, zlib.MAX_WBITS, max_bytes, "deflate")
        except IngestRejected as exc:
            if exc.status != 400:
                raise
            return _inflate_zlib(body, -zlib.MAX_WBITS, max_bytes, "deflate")
    if enc == "br":
        return _inflate_brotli(body, max_bytes)
    raise IngestRejected(
        415 if enc else 400,
        f"unsupported Content-Encoding {enc[:40]!r}; use gzip, deflate, br or identity",
    )


def _too_big(max_bytes: int) -> IngestRejected:
    return IngestRejected(
        413, f"body inflates past the {max_bytes}-byte limit; refused before inflating it whole"
    )


def _inflate_zlib(body: bytes, wbits: int, max_bytes: int, name: str) -> bytes:
    d = zlib.decompressobj(wbits)
    out = bytearray()
    data = body
    try:
        while True:
            chunk = d.decompress(data, INFLATE_CHUNK)
            out += chunk
            if len(out) > max_bytes:
                raise _too_big(max_bytes)
            data = d.unconsumed_tail
            if d.eof or (not data and not chunk):
                break
        if not d.eof:
            raise IngestRejected(400, f"truncated {name} body")
    except zlib.error as exc:
        raise IngestRejected(400, f"body is not valid {name}: {exc}") from None
    return bytes(out)


def _inflate_brotli(body: bytes, max_bytes: int) -> bytes:
    d = brotli.Decompressor()
    out = bytearray()
    try:
        out += d.process(body, output_buffer_limit=INFLATE_CHUNK)
        while len(out) <= max_bytes and not d.is_finished():
            more = d.process(b"", output_buffer_limit=INFLATE_CHUNK)
            if not more:
                break
            out += more
    except brotli.error as exc:
        raise IngestRejected(400, f"body is not valid br: {exc}") from None
    if len(out) > max_bytes:
        raise _too_big(max_bytes)
    if not d.is_finished():
        raise IngestRejected(400, "truncated br body")
    return bytes(out)


_AUTH_PAIR = re.compile(r"([a-z_]+)\s*=\s*([^,\s]+)")


def extract_sentry_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The `sentry_key` from `X-Sentry-Auth` (or `Authorization: Sentry ...`) or the query."""
    for header in ("x-sentry-auth", "authorization"):
        value = headers.get(header)
        if value and value.lstrip().lower().startswith("sentry"):
            pairs = dict(_AUTH_PAIR.findall(value))
            if pairs.get("sentry_key"):
                return pairs["sentry_key"]
    return query.get("sentry_key") or None


def check_project_key(project_id: str, key: str | None, keys: Mapping[str, int]) -> int:
    """The project id if `key` is a stored key of that project; else 401 (no/unknown key) or 403."""
    if not key:
        raise IngestRejected(
            401, "missing sentry_key: send X-Sentry-Auth or ?sentry_key= (use the project's DSN)"
        )
    owner = keys.get(key)
    if owner is None:
        raise IngestRejected(
            401, "unknown sentry_key; run `nightfix-errors project create` for a DSN"
        )
    if check_project_id(project_id) != owner:
        raise IngestRejected(403, "this sentry_key does not belong to the project in the URL")
    return owner
