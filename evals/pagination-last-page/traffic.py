"""Production traffic for the order history API, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers page through their order history in the mobile app; exit 0 once at least
``--min-errors`` requests failed (each one reported), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from orders.api import order_history


def history(customer: int) -> list[dict[str, str]]:
    count = 10 + (customer * 7) % 25  # 10..34 orders
    return [
        {"id": f"c{customer}-o{i}", "placed_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"}
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="orders@3.2.0",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for customer in range(1, 30):
        orders = history(customer)
        pages = 1
        page = 1
        while page <= pages:  # the app shows "page N of ceil(total / 10)" from the first page
            with sentry_sdk.new_scope() as scope:
                scope.set_transaction_name("GET /customers/{id}/orders")
                scope.set_user({"id": f"customer-{customer}"})
                try:
                    body = order_history(orders, page)
                except Exception as exc:
                    sentry_sdk.capture_exception(exc)
                    errors += 1
                    break
            pages = -(-body["total"] // 10)
            page += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed requests reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
