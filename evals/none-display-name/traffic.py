"""Production traffic for the account page, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers open their account page; those who signed up through single sign-on have no
nickname. Exit 0 once at least ``--min-errors`` requests failed (each one reported).
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from profiles.api import account_header


def customer(n: int) -> dict[str, str | None]:
    sso = n % 3 == 0  # single sign-on accounts are created without a nickname
    return {
        "first_name": f"Customer{n}",
        "last_name": "Smith",
        "email": f"c{n}@example.com",
        "nickname": None if sso else f"c{n}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="profiles@2.8.1",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for n in range(1, 31):
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("GET /account")
            scope.set_user({"id": f"customer-{n}"})
            try:
                account_header(customer(n))
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed requests reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
