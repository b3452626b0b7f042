"""Production traffic for the feature-access check, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers open paid features; subscriptions migrated from the old billing system store
``expires_at`` without an offset. Exit 0 once at least ``--min-errors`` requests failed.
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from billing.access import can_use


def subscription(n: int) -> dict[str, object]:
    migrated = n % 4 == 0  # the old system wrote naive UTC timestamps
    expires = "2999-06-30T23:59:59" if migrated else "2999-06-30T23:59:59+00:00"
    return {"expires_at": expires, "features": ["export", "reports"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="billing@5.0.3",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for n in range(1, 41):
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("GET /features/{name}")
            scope.set_user({"id": f"customer-{n}"})
            try:
                can_use(subscription(n), "export")
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed requests reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
