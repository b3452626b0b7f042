"""Production traffic for the webhook dispatcher, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Order events are delivered to merchants' endpoints; some endpoints sit behind a load
balancer that resets idle connections. Exit 0 once at least ``--min-errors`` deliveries
failed (each one reported).
"""

from __future__ import annotations

import sys

from webhooks.dispatch import deliver

from nightfix.evals.traffic import Traffic


def endpoint(merchant: int):  # type: ignore[no-untyped-def]
    calls = [0]

    def send(payload: bytes) -> int:
        calls[0] += 1
        if merchant % 3 == 0 and calls[0] == 1:  # a stale keep-alive connection
            raise ConnectionResetError(104, "Connection reset by peer")
        return 200

    return send


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="webhooks@1.12.0", failures="failed deliveries", argv=argv)
    for n in range(1, 31):
        with traffic.request("task webhooks.deliver", user=f"merchant-{n}"):
            deliver(endpoint(n), {"type": "order.paid", "order": f"o-{n}"})
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
