"""Fail-closed checks on a push delivery (``nightfix watch --listen``), in the order applied.

Each refuses (raises :class:`DeliveryRefused` with the HTTP status, a counter name and a
reason the sender can act on) unless the delivery is positively acceptable: a body within its
size limit, a ``Sentry-Hook-Signature`` that is the HMAC-SHA256 of the raw body under the
shared secret (compared in constant time, before the body is parsed), a timestamp inside the
window when one is sent, an issue id that is just an id. Nothing from a body goes further than
the issue id: the run reads the issue from the errors server, as a polled one.
"""

from __future__ import annotations

import hashlib
import hmac
import re

ISSUE_ID = re.compile(r"[0-9]{1,20}")
"""Issue ids of both errors backends (the collector's store and Sentry) are decimal numbers."""
MAX_REQUEST_ID = 200


class DeliveryRefused(Exception):
    """A delivery is not acted on; ``status`` is the HTTP answer, ``counter`` what is counted."""

    def __init__(self, status: int, counter: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.counter = counter
        self.reason = reason


def sign(secret: bytes, body: bytes) -> str:
    """The signature a sender puts in ``Sentry-Hook-Signature``: HMAC-SHA256 hex of the body."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_declared_size(content_length: str | None, limit: int) -> None:
    """Refuse (413) a body declared larger than ``limit`` before reading it."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise DeliveryRefused(413, "too_large", f"body is over the {limit}-byte limit")


def check_signature(secret: bytes, body: bytes, signature: str | None) -> None:
    """Refuse (401) a delivery unless its signature is the body's HMAC under ``secret``.

    Fails closed: an empty secret verifies nothing (the listener refuses to start without
    one, and this refuses again here).
    """
    if not secret:
        raise DeliveryRefused(401, "bad_signature", "no webhook secret is configured")
    if not signature:
        raise DeliveryRefused(401, "bad_signature", "missing Sentry-Hook-Signature header")
    expected = sign(secret, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("latin-1")):
        raise DeliveryRefused(
            401, "bad_signature", "Sentry-Hook-Signature does not match the body; check the secret"
        )


def check_fresh(timestamp: str | None, now: float, max_age_s: float) -> None:
    """Refuse (401) a delivery whose ``Sentry-Hook-Timestamp`` is outside the window.

    Sentry's signature covers the body only, so the header alone proves nothing; the replay
    check on the body's digest (:func:`delivery_key`) is what stops a resent body. This
    catches a delivery held back and sent late with its original headers.
    """
    if timestamp is None:
        return
    try:
        sent = float(timestamp)
    except ValueError:
        raise DeliveryRefused(
            401, "stale", f"Sentry-Hook-Timestamp {timestamp[:40]!r} is not a number"
        ) from None
    if abs(now - sent) > max_age_s:
        raise DeliveryRefused(
            401,
            "stale",
            f"Sentry-Hook-Timestamp is {now - sent:.0f}s from now (window ±{max_age_s:g}s)",
        )


def check_issue_id(value: object) -> str:
    """The issue id of a delivery, refused (400) unless it is a decimal number."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not ISSUE_ID.fullmatch(text):
        raise DeliveryRefused(400, "malformed", "the delivery's issue id is not a decimal number")
    return text


def check_request_id(value: str | None) -> str | None:
    """The delivery's ``Request-ID`` (kept to recognise a replay), refused (400) past 200
    characters: a UUID is 36, and the state database keeps every one."""
    if value is not None and len(value) > MAX_REQUEST_ID:
        raise DeliveryRefused(400, "malformed", f"Request-ID is over {MAX_REQUEST_ID} characters")
    return value or None


def delivery_key(body: bytes) -> str:
    """The digest a replayed body is recognised by, whatever ``Request-ID`` it comes with."""
    return hashlib.sha256(body).hexdigest()
