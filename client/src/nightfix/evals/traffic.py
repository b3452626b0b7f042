"""What a Python scenario's ``traffic.py`` shares: report each failed request to Sentry.

A scenario's traffic script plays production: it calls the service's code the way its users
do, and every exception goes through the real ``sentry-sdk`` to the DSN in ``SENTRY_DSN`` (the
eval's collector). The script exits 0 once at least ``--min-errors`` requests failed, so a
scenario whose bug no longer fires is caught before any model is asked to fix it::

    traffic = Traffic(__doc__, release="orders@3.2.0", failures="failed requests")
    for n in range(1, 30):
        with traffic.request("GET /orders", user=f"customer-{n}"):
            order_history(n)
    return traffic.finish()
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sentry_sdk


@dataclass
class Attempt:
    """One request; ``failed`` is set when it raised (and was reported)."""

    failed: bool = False


class Traffic:
    """The SDK set up from the environment, and a count of the failures it reported."""

    def __init__(
        self,
        doc: str | None,
        release: str,
        failures: str = "failed requests",
        argv: list[str] | None = None,
    ) -> None:
        parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
        parser.add_argument(
            "--min-errors",
            type=int,
            default=6,
            help="exit 1 unless at least this many requests failed (default 6)",
        )
        self.min_errors: int = parser.parse_args(argv).min_errors
        self.failures = failures
        self.errors = 0
        sentry_sdk.init(
            dsn=os.environ["SENTRY_DSN"],
            environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
            release=release,
            default_integrations=False,
            traces_sample_rate=0,
        )

    @contextmanager
    def request(self, transaction: str, user: str) -> Iterator[Attempt]:
        """One request in its own scope; an exception is reported and counted, not raised."""
        attempt = Attempt()
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name(transaction)
            scope.set_user({"id": user})
            try:
                yield attempt
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                self.errors += 1
                attempt.failed = True

    def finish(self) -> int:
        """Send what is queued; the exit status (0 when enough requests failed)."""
        sentry_sdk.flush(timeout=10)
        print(f"{self.errors} {self.failures} reported")
        return 0 if self.errors >= self.min_errors else 1
