from datetime import UTC, datetime

from billing.access import can_use
from billing.subscriptions import is_active

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_active_until_it_expires():
    assert is_active({"expires_at": "2026-03-01T10:00:00+00:00"}, NOW)


def test_expired_after_it_expires():
    assert not is_active({"expires_at": "2026-03-01T08:59:59+00:00"}, NOW)


def test_a_feature_needs_the_plan_and_an_active_subscription():
    sub = {"expires_at": "2026-04-01T00:00:00+00:00", "features": ["export"]}
    assert can_use(sub, "export", NOW)
    assert not can_use(sub, "api", NOW)
