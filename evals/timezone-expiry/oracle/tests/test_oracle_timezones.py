"""Hidden oracle: never in the repository the model sees."""

from datetime import UTC, datetime, timedelta, timezone

from billing.access import can_use
from billing.subscriptions import is_active

NOW = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def test_a_stored_time_without_offset_is_utc():
    assert is_active({"expires_at": "2026-03-01T11:30:00"}, NOW)
    assert not is_active({"expires_at": "2026-03-01T10:30:00"}, NOW)


def test_an_offset_is_honoured():
    # 12:00 at +02:00 is 10:00 UTC: expired at 11:00 UTC
    assert not is_active({"expires_at": "2026-03-01T12:00:00+02:00"}, NOW)
    # 08:00 at -05:00 is 13:00 UTC: still active
    assert is_active({"expires_at": "2026-03-01T08:00:00-05:00"}, NOW)


def test_now_in_another_zone_is_the_same_instant():
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert is_active({"expires_at": "2026-03-01T11:30:00+00:00"}, paris)
    assert not is_active({"expires_at": "2026-03-01T10:59:00"}, paris)


def test_a_migrated_customer_can_use_the_feature():
    sub = {"expires_at": "2026-04-01T00:00:00", "features": ["export"]}
    assert can_use(sub, "export", NOW)
    far = {"expires_at": "2999-01-01T00:00:00", "features": ["export"]}
    assert can_use(far, "export")  # with the current (aware) time
