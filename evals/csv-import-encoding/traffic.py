"""Production traffic for the contact import, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers upload address books; some contain accented names, some were saved by Excel
(UTF-8 with a byte-order mark). Exit 0 once at least ``--min-errors`` uploads failed.
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from contacts.api import import_contacts

UPLOADS = [
    "name,email\nAna Lima,ana@example.com\nBo Chen,bo@example.com\n",
    "name,email\nZoë Brontë,zoe@example.com\n",
    "\ufeffname,email\nJosé Álvarez,jose@example.com\n",
    "name,email\nFrançois Dupont,f@example.com\nKim,kim@example.com\n",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="contacts@4.1.0",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for n in range(1, 21):
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("POST /contacts/import")
            scope.set_user({"id": f"customer-{n}"})
            try:
                import_contacts(UPLOADS[n % len(UPLOADS)].encode("utf-8"))
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed uploads reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
