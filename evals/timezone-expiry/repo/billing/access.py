"""``GET /features/<name>``: may this customer use a paid feature?"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.subscriptions import is_active


def can_use(subscription: dict[str, Any], feature: str, now: datetime | None = None) -> bool:
    return feature in subscription.get("features", []) and is_active(subscription, now)
