"""Production traffic for bill splitting, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Tables split their bills between guests. Exit 0 once at least ``--min-errors`` requests
failed (each one reported).
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from billing.api import split_request

BILLS = [(100.0, 3), (90.0, 3), (59.99, 2), (48.0, 4), (73.1, 3), (20.0, 2), (85.55, 6)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="tables@2.0.9",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for n in range(1, 29):
        total, people = BILLS[n % len(BILLS)]
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("POST /bills/{id}/split")
            scope.set_user({"id": f"table-{n}"})
            try:
                split_request(total, [f"guest-{g}" for g in range(people)])
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed requests reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
