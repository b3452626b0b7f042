"""Delivery with bounded retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Send = Callable[[bytes], int]
"""Posts a payload to the merchant's endpoint; returns the HTTP status."""

TRANSIENT: tuple[type[BaseException], ...] = (TimeoutError,)
"""Network failures worth another attempt."""


class DeliveryFailed(RuntimeError):
    """Every attempt failed; the event goes to the dead-letter queue."""


def deliver(
    send: Send,
    event: dict[str, Any],
    attempts: int = 3,
    pause: Callable[[int], None] = lambda n: None,
) -> int:
    """Deliver ``event``; returns how many attempts it took.

    A transient network failure or a 5xx answer is retried (``pause(n)`` between attempts);
    after ``attempts`` failures :class:`DeliveryFailed` is raised. Other errors propagate.
    """
    payload = json.dumps(event, sort_keys=True).encode()
    last = ""
    for n in range(1, attempts + 1):
        try:
            status = send(payload)
        except TRANSIENT as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status < 500:
                return n
            last = f"HTTP {status}"
        if n < attempts:
            pause(n)
    raise DeliveryFailed(f"gave up after {attempts} attempts ({last})")
