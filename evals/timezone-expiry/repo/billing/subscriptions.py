"""Subscription expiry checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_timestamp(value: str) -> datetime:
    """A stored ISO 8601 timestamp (``expires_at`` as the billing database holds it)."""
    return datetime.fromisoformat(value)


def is_active(subscription: dict[str, Any], now: datetime | None = None) -> bool:
    """True while the subscription has not expired at ``now`` (default: the current time)."""
    now = now or datetime.now(UTC)
    return parse_timestamp(subscription["expires_at"]) > now
