"""Drive concurrent checkouts at the service until errors are reported.

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 python traffic.py [--min-errors 8] [--concurrency 30]

Starts the service in-process on a free port (with Sentry reporting when ``SENTRY_DSN`` is set),
fires rounds of concurrent ``POST /checkout`` requests, and stops once ``--min-errors`` requests
failed with a server error (each one reported through ``sentry-sdk``), or after
``--max-rounds``. Prints one line per round; exit 0 when the errors were seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from checkout.app import init_error_reporting, make_server


def one_checkout(url: str, n: int) -> int:
    body = json.dumps({"user": f"user-{n % 17}", "cart": {"coffee": 1, "bread": 2}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 599


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-errors", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--max-rounds", type=int, default=20)
    args = parser.parse_args(argv)

    reporting = init_error_reporting()
    server = make_server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/checkout"
    errors = 0
    try:
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            for round_no in range(1, args.max_rounds + 1):
                codes = list(pool.map(lambda n: one_checkout(url, n), range(args.concurrency)))
                failed = sum(1 for c in codes if c >= 500)
                errors += failed
                print(
                    f"round {round_no}: {args.concurrency} concurrent checkouts, "
                    f"{failed} failed (total errors {errors})",
                    flush=True,
                )
                if errors >= args.min_errors:
                    break
    finally:
        server.shutdown()
        if reporting:
            import sentry_sdk

            sentry_sdk.flush(timeout=10)
    return 0 if errors >= args.min_errors else 1


if __name__ == "__main__":
    sys.exit(main())
