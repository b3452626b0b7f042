"""Production traffic for the sign-in lookup, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers sign in by email; some addresses contain an apostrophe. Exit 0 once at least
``--min-errors`` lookups failed (each one reported).
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from customers.api import lookup
from customers.store import add_customer, connect

SURNAMES = ["lima", "o'brien", "chen", "d'angelo", "smith", "o'neill"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="accounts@9.4.2",
        default_integrations=False,
        traces_sample_rate=0,
    )
    conn = connect()
    emails = [f"{s}{n}@example.com" for n in range(5) for s in SURNAMES]
    for email in emails:
        add_customer(conn, email, email.split("@")[0].title())
    errors = 0
    for n, email in enumerate(emails):
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("POST /signin/lookup")
            scope.set_user({"id": f"visitor-{n}"})
            try:
                lookup(conn, email)
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed lookups reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
