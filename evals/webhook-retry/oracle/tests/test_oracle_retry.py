"""Hidden oracle: never in the repository the model sees."""

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


def test_a_connection_reset_is_retried_and_delivered():
    send = answers(ConnectionResetError(104, "Connection reset by peer"), 200)
    assert deliver(send, {"id": 7}) == 2
    assert len(send.calls) == 2


def test_a_refused_connection_is_retried_too():
    send = answers(ConnectionRefusedError(111, "Connection refused"), 200)
    assert deliver(send, {"id": 7}) == 2


def test_resets_every_time_end_in_delivery_failed():
    send = answers(ConnectionResetError(104, "Connection reset by peer"))
    with pytest.raises(DeliveryFailed):
        deliver(send, {"id": 7}, attempts=4)
    assert len(send.calls) == 4


def test_a_bug_in_the_payload_is_not_retried():
    send = answers(ValueError("bad payload"))
    with pytest.raises(ValueError):
        deliver(send, {"id": 7})
    assert len(send.calls) == 1


def test_pauses_between_attempts_only():
    pauses = []
    send = answers(ConnectionResetError(104, "reset"), TimeoutError(), 200)
    assert deliver(send, {"id": 7}, pause=pauses.append) == 3
    assert pauses == [1, 2]
