"""The HTTP front of the service: ``POST /checkout`` with ``{"user": ..., "cart": {...}}``.

Errors are reported to Sentry (or any Sentry-compatible collector) when ``SENTRY_DSN`` is set
and ``sentry-sdk`` is installed; the service runs without either.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from checkout.db import ConnectionPool
from checkout.service import CheckoutService, InvalidCart

try:  # optional: the service and its tests run without it
    import sentry_sdk
except ImportError:  # pragma: no cover
    sentry_sdk = None  # type: ignore[assignment]


def init_error_reporting() -> bool:
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn or sentry_sdk is None:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release=os.environ.get("SENTRY_RELEASE", "checkout@1.4.2"),
        default_integrations=False,
        traces_sample_rate=0,
    )
    return True


def make_handler(service: CheckoutService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            if self.path != "/checkout":
                self._reply(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                order = service.checkout(str(body.get("user", "anonymous")), body.get("cart", {}))
            except InvalidCart as exc:
                self._reply(400, {"error": str(exc)})
            except Exception as exc:
                report(exc, transaction="/checkout", user=str(body.get("user", "")))
                self._reply(500, {"error": type(exc).__name__})
            else:
                self._reply(200, {"order": order.id, "total_cents": order.total_cents})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def report(exc: BaseException, transaction: str, user: str) -> None:
    if sentry_sdk is None or not sentry_sdk.is_initialized():
        return
    with sentry_sdk.new_scope() as scope:
        scope.set_transaction_name(transaction)
        scope.set_user({"id": user})
        sentry_sdk.capture_exception(exc)


class Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


def make_server(port: int = 8080, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    return Server((host, port), make_handler(CheckoutService(ConnectionPool())))


if __name__ == "__main__":  # pragma: no cover
    init_error_reporting()
    server = make_server(int(os.environ.get("PORT", "8080")))
    print(f"checkout service on http://127.0.0.1:{server.server_address[1]}/checkout")
    server.serve_forever()
