"""Production start-ups of the payment worker, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

The orchestrator starts worker replicas with the deployment's environment, in which
operations set ``HTTP_TIMEOUT_S=2.5``. Exit 0 once at least ``--min-errors`` starts failed.
"""

from __future__ import annotations

import argparse
import os
import sys

import sentry_sdk
from worker.main import start

DEPLOYMENT_ENV = {"HTTP_TIMEOUT_S": "2.5", "MAX_RETRIES": "4", "DEBUG": "false"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=6)
    args = parser.parse_args(argv)
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release="payments-worker@7.3.0",
        default_integrations=False,
        traces_sample_rate=0,
    )
    errors = 0
    for replica in range(1, 9):  # the orchestrator restarts each crashed replica
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("worker startup")
            scope.set_user({"id": f"replica-{replica}"})
            try:
                start(DEPLOYMENT_ENV)
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
                errors += 1
    sentry_sdk.flush(timeout=10)
    print(f"{errors} failed worker starts reported")
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
