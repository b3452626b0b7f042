"""Production traffic for the webhook dispatcher, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Order events are delivered to merchants' endpoints; some endpoints sit behind a load
balancer that resets idle connections. Exit 0 once at least ``--min-errors`` deliveries
failed (each one reported).
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from webhooks.dispatch import deliver


def endpoint(merchant: int):  # type: ignore[no-untyped-def]
    calls = [0]

    def send(payload: bytes) -> int:
        calls[0] += 1
        if merchant % 3 == 0 and calls[0] == 1:  # a stale keep-alive connection
            raise ConnectionResetError(104, "Connection reset by peer")
        return 200

    return send


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="webhooks@1.12.0",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for n in range(1, 31):
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("task webhooks.deliver")
            scope.set_user({"id": f"merchant-{n}"})
            try:
                deliver(endpoint(n), {"type": "order.paid", "order": f"o-{n}"})
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed deliveries reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
