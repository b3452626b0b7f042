"""Production traffic for bill splitting, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Tables split their bills between guests. Exit 0 once at least ``--min-errors`` requests
failed (each one reported).
"""

from __future__ import annotations

import sys

from billing.api import split_request

from nightfix.evals.traffic import Traffic

BILLS = [(100.0, 3), (90.0, 3), (59.99, 2), (48.0, 4), (73.1, 3), (20.0, 2), (85.55, 6)]


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="tables@2.0.9", failures="failed requests", argv=argv)
    for n in range(1, 29):
        total, people = BILLS[n % len(BILLS)]
        with traffic.request("POST /bills/{id}/split", user=f"table-{n}"):
            split_request(total, [f"guest-{g}" for g in range(people)])
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
