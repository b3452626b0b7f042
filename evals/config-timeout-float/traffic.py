"""Production start-ups of the payment worker, errors reported through the real sentry-sdk.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 PYTHONPATH=repo python traffic.py

The orchestrator starts worker replicas with the deployment's environment, in which
operations set ``HTTP_TIMEOUT_S=2.5``. Exit 0 once at least ``--min-errors`` starts failed.
"""

from __future__ import annotations

import sys

from worker.main import start

from nightfix.evals.traffic import Traffic

DEPLOYMENT_ENV = {"HTTP_TIMEOUT_S": "2.5", "MAX_RETRIES": "4", "DEBUG": "false"}


def main(argv: list[str] | None = None) -> int:
    traffic = Traffic(
        __doc__, release="payments-worker@7.3.0", failures="failed worker starts", argv=argv
    )
    for replica in range(1, 9):  # the orchestrator restarts each crashed replica
        with traffic.request("worker startup", user=f"replica-{replica}"):
            start(DEPLOYMENT_ENV)
    return traffic.finish()


if __name__ == "__main__":
    sys.exit(main())
