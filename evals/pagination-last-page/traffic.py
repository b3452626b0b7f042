"""Production traffic for the order history API, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers page through their order history in the mobile app; exit 0 once at least
``--min-errors`` requests failed (each one reported), 1 otherwise.
"""

from __future__ import annotations

import sys

from orders.api import order_history

from nightfix.evals.traffic import Traffic


def history(customer: int) -> list[dict[str, str]]:
    count = 10 + (customer * 7) % 25  # 10..34 orders
    return [
        {"id": f"c{customer}-o{i}", "placed_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"}
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="orders@3.2.0", failures="failed requests", argv=argv)
    for customer in range(1, 30):
        orders = history(customer)
        pages = 1
        page = 1
        while page <= pages:  # the app shows "page N of ceil(total / 10)" from the first page
            with traffic.request(
                "GET /customers/{id}/orders", user=f"customer-{customer}"
            ) as attempt:
                body = order_history(orders, page)
            if attempt.failed:
                break
            pages = -(-body["total"] // 10)
            page += 1
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
