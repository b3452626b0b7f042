"""The HTTP side of ``nightfix watch --listen``: ``POST /webhook`` and ``GET /healthz``.

A bare ASGI app (as the collector's) served by uvicorn inside the watch's own event loop, so a
verified delivery wakes the loop directly. The order of checks is the order of cost and trust:
declared size, streamed size, signature (before anything parses the body), timestamp, JSON,
resource and action, issue id, replay, duplicate issue. Every outcome is counted
(:class:`~nightfix.autonomy.push.PushLedger`) and logged on one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from nightfix.autonomy.push import PushInbox, PushLedger, parse_delivery
from nightfix.autonomy.push_security import (
    DeliveryRefused,
    check_declared_size,
    check_fresh,
    check_request_id,
    check_signature,
    delivery_key,
)
from nightfix.errors import NightfixError
from nightfix.policy import TriggerPolicy

log = logging.getLogger("nightfix.watch.listen")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Say = Callable[[str], None]


class Listener:
    """Verifies deliveries and hands the issues they name to the inbox."""

    def __init__(
        self,
        ledger: PushLedger,
        inbox: PushInbox,
        secret: bytes,
        policy: TriggerPolicy,
        say: Say,
    ) -> None:
        self.ledger, self.inbox, self.secret, self.policy, self.say = (
            ledger,
            inbox,
            secret,
            policy,
            say,
        )

    async def deliver(self, headers: dict[str, str], receive: Receive) -> tuple[int, str]:
        """One ``POST /webhook``: the HTTP status and what happened (for the sender)."""
        limit = self.policy.webhook_max_body_bytes
        check_declared_size(headers.get("content-length"), limit)
        body = await read_body(receive, limit)
        check_signature(self.secret, body, headers.get("sentry-hook-signature"))
        check_fresh(
            headers.get("sentry-hook-timestamp"), time.time(), self.policy.webhook_max_age_s
        )
        resource = headers.get("sentry-hook-resource")
        delivery = parse_delivery(resource, body)
        request_id = check_request_id(headers.get("request-id"))
        issue_id = delivery.issue_id if delivery else None
        self.ledger.record(request_id, delivery_key(body), str(resource), issue_id)
        if delivery is None:
            self.ledger.count("ignored")
            return 200, f"ignored: {resource} deliveries start no run"
        running = self.ledger.active_run(delivery.issue_id)
        if running or not self.inbox.put(delivery):
            self.ledger.count("duplicate_issue")
            why = f"run {running} is in flight" if running else "it is queued already"
            return 202, f"issue {delivery.issue_id}: {why}; not queued again"
        self.ledger.count("accepted")
        return 202, f"issue {delivery.issue_id} queued for the trigger rules"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method == "GET":
            await respond(send, 200, {"service": "nightfix-watch", **self.ledger.counters()})
            return
        if path != "/webhook":
            await respond(send, 404, {"detail": "not found; POST /webhook"})
            return
        if method != "POST":
            await respond(send, 405, {"detail": "use POST"})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status, detail = await self.deliver(headers, receive)
        except DeliveryRefused as exc:
            self.ledger.count(exc.counter)
            self.say(f"webhook: refused ({exc.status} {exc.counter}): {exc.reason}")
            await respond(send, exc.status, {"detail": exc.reason})
            return
        self.say(f"webhook: {detail}")
        await respond(send, status, {"detail": detail})


async def read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise DeliveryRefused(400, "malformed", "the sender disconnected mid-body")
        body += message.get("body", b"")
        if len(body) > limit:
            raise DeliveryRefused(413, "too_large", f"body is over the {limit}-byte limit")
        if not message.get("more_body", False):
            return bytes(body)


async def respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the watch loop owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Serving:
    """A listener serving in this event loop; :meth:`stop` closes it."""

    server: _Server
    task: asyncio.Task[None]
    address: str

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await self.task


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port that cannot be bound is a clear error (never a watch that
    silently only polls)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise NightfixError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --listen"
        ) from None
    sock.listen(128)
    return sock


async def serve(listener: Listener, host: str, port: int) -> Serving:
    """Start listening on host:port in this event loop."""
    sock = bind(host, port)
    config = uvicorn.Config(
        listener.app,
        interface="asgi3",
        lifespan="off",
        proxy_headers=False,
        log_config=None,
        access_log=False,
        log_level="warning",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        sock.close()
        raise NightfixError(f"the listener on {host}:{port} did not start")
    bound = sock.getsockname()
    return Serving(server, task, f"{host}:{bound[1]}")
