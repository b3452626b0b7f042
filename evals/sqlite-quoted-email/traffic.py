"""Production traffic for the sign-in lookup, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers sign in by email; some addresses contain an apostrophe. Exit 0 once at least
``--min-errors`` lookups failed (each one reported).
"""

from __future__ import annotations

import sys

from customers.api import lookup
from customers.store import add_customer, connect

from nightfix.evals.traffic import Traffic

SURNAMES = ["lima", "o'brien", "chen", "d'angelo", "smith", "o'neill"]


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="accounts@9.4.2", failures="failed lookups", argv=argv)
    conn = connect()
    emails = [f"{s}{n}@example.com" for n in range(5) for s in SURNAMES]
    for email in emails:
        add_customer(conn, email, email.split("@")[0].title())
    for n, email in enumerate(emails):
        with traffic.request("POST /signin/lookup", user=f"visitor-{n}"):
            lookup(conn, email)
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
