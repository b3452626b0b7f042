"""Text forms shared by ingest and reading: cutting with a visible marker, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and a marker saying how much went."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}…[cut {dropped} chars]"


def iso_utc(epoch: float) -> str:
    """`2026-01-02T03:04:05.678Z` for a Unix time."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """A Unix time from ISO 8601 (naive means UTC); ValueError says what was wrong."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:60]!r} is not an ISO 8601 date-time; use e.g. 2026-01-02T03:04:05Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
