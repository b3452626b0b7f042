"""Production traffic for the contact import, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

Customers upload address books; some contain accented names, some were saved by Excel
(UTF-8 with a byte-order mark). Exit 0 once at least ``--min-errors`` uploads failed.
"""

from __future__ import annotations

import sys

from contacts.api import import_contacts

from nightfix.evals.traffic import Traffic

UPLOADS = [
    "name,email\nAna Lima,ana@example.com\nBo Chen,bo@example.com\n",
    "name,email\nZoë Brontë,zoe@example.com\n",
    "\ufeffname,email\nJosé Álvarez,jose@example.com\n",
    "name,email\nFrançois Dupont,f@example.com\nKim,kim@example.com\n",
]


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(__doc__, release="contacts@4.1.0", failures="failed uploads", argv=argv)
    for n in range(1, 21):
        with traffic.request("POST /contacts/import", user=f"customer-{n}"):
            import_contacts(UPLOADS[n % len(UPLOADS)].encode("utf-8"))
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
