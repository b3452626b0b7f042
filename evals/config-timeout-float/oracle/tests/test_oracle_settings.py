"""Hidden oracle: never in the repository the model sees."""

import pytest
from worker.main import start
from worker.settings import load


@pytest.mark.parametrize(
    ("raw", "seconds"), [("2.5", 2.5), ("0.25", 0.25), ("10", 10.0), (" 3.0 ", 3.0)]
)
def test_fractional_timeouts_are_kept_exactly(raw, seconds):
    assert load({"HTTP_TIMEOUT_S": raw}).http_timeout_s == seconds


def test_the_default_is_still_ten_seconds():
    assert load({}).http_timeout_s == 10


def test_the_client_gets_the_fractional_timeout():
    assert start({"HTTP_TIMEOUT_S": "2.5"}).timeout_s == 2.5


def test_a_timeout_that_is_not_a_number_is_still_an_error():
    with pytest.raises(ValueError):
        load({"HTTP_TIMEOUT_S": "fast"})
