"""Production traffic for the feature-access check, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers open paid features; subscriptions migrated from the old billing system store
``expires_at`` without an offset. Exit 0 once at least ``--min-errors`` requests failed.
"""

from __future__ import annotations

import sys

from billing.access import can_use

from nightfix.evals.traffic import Traffic


def subscription(n: int) -> dict[str, object]:
    migrated = n % 4 == 0  # the old system wrote naive UTC timestamps
    expires = "2999-06-30T23:59:59" if migrated else "2999-06-30T23:59:59+00:00"
    return {"expires_at": expires, "features": ["export", "reports"]}


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="billing@5.0.3", failures="failed requests", argv=argv)
    for n in range(1, 41):
        with traffic.request("GET /features/{name}", user=f"customer-{n}"):
            can_use(subscription(n), "export")
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
