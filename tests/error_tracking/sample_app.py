"""A small app that uses the real sentry-sdk; run as a subprocess by the tests.

usage: python sample_app.py BUG   (BUG: divide | divide_other_line | lookup | leak)
The DSN comes from $DSN. The SDK's own scrubber is switched off, so any secret that does not
reach the store was removed by the collector, not by the SDK.
"""

import os
import sys

import sentry_sdk
from sentry_sdk.scrubber import EventScrubber


def average(values, divisor_line):
    total = sum(values)
    if divisor_line == "first":
        return total / len(values)
    count = len(values)
    return total / count


def lookup(table, key):
    return table[key]


def charge(card_number):
    password = os.environ["SAMPLE_DB_PASSWORD"]  # noqa: F841 - a local the SDK reports
    connection = {"user": "shop", "dsn": "postgres://db/shop"}
    raise ConnectionError(f"cannot reach payment db as {connection['user']}")


def main(bug):
    sentry_sdk.init(
        dsn=os.environ["DSN"],
        environment="production",
        release="shop@1.0.0",
        send_default_pii=True,
        include_local_variables=True,
        event_scrubber=EventScrubber(denylist=[], pii_denylist=[]),
        before_send=_add_request if bug == "leak" else None,
    )
    sentry_sdk.set_user({"id": os.environ.get("SAMPLE_USER", "user-1")})
    try:
        if bug == "divide":
            average([], "first")
        elif bug == "divide_other_line":
            average([], "second")
        elif bug == "lookup":
            lookup({"a": 1}, "missing-key")
        elif bug == "leak":
            charge("4111 1111 1111 1111")
    except Exception:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)


def _add_request(event, hint):
    """What a web integration would attach: the request, with its Authorization header."""
    event["request"] = {
        "method": "POST",
        "url": "http://shop.local/checkout",
        "headers": {"Authorization": os.environ["SAMPLE_AUTH_HEADER"], "Accept": "*/*"},
    }
    return event


if __name__ == "__main__":
    main(sys.argv[1])
