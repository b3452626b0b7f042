"""Production traffic for the account page, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers open their account page; those who signed up through single sign-on have no
nickname. Exit 0 once at least ``--min-errors`` requests failed (each one reported).
"""

from __future__ import annotations

import sys

from profiles.api import account_header

from nightfix.evals.traffic import Traffic


def customer(n: int) -> dict[str, str | None]:
    sso = n % 3 == 0  # single sign-on accounts are created without a nickname
    return {
        "first_name": f"Customer{n}",
        "last_name": "Smith",
        "email": f"c{n}@example.com",
        "nickname": None if sso else f"c{n}",
    }


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="profiles@2.8.1", failures="failed requests", argv=argv)
    for n in range(1, 31):
        with traffic.request("GET /account", user=f"customer-{n}"):
            account_header(customer(n))
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
