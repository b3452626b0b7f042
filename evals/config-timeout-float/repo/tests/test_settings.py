from worker.main import start
from worker.settings import load


def test_defaults():
    settings = load({})
    assert settings.http_timeout_s == 10
    assert settings.max_retries == 3
    assert settings.debug is False


def test_values_from_the_environment():
    settings = load({"HTTP_TIMEOUT_S": "30", "MAX_RETRIES": "5", "DEBUG": "Yes"})
    assert (settings.http_timeout_s, settings.max_retries, settings.debug) == (30, 5, True)


def test_the_client_gets_the_timeout():
    assert start({"HTTP_TIMEOUT_S": "4"}).timeout_s == 4
