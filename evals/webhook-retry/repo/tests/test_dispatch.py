import pytest
from webhooks.dispatch import DeliveryFailed, deliver


def answers(*outcomes):
    calls = []

    def send(payload):
        calls.append(payload)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    send.calls = calls
    return send


def test_delivered_first_time():
    assert deliver(answers(200), {"id": 1}) == 1


def test_a_timeout_is_retried():
    send = answers(TimeoutError("read timed out"), 204)
    assert deliver(send, {"id": 1}) == 2


def test_a_server_error_is_retried_then_given_up():
    send = answers(503)
    with pytest.raises(DeliveryFailed):
        deliver(send, {"id": 1})
    assert len(send.calls) == 3
