"""The HTTP transport's door, the same in every nightfix server: a bearer token on each request.

Over stdio a server answers only the process that started it. Over HTTP it answers whoever
reaches the port, and its tools run commands in sandboxes, read the error store, or write to the
repository with the server's credentials. So:

- ``--token-env NAME`` makes every HTTP request carry ``Authorization: Bearer <$NAME>``
  (:func:`check_bearer_token`, constant time); a request without it gets 401 with a JSON body
  saying what to send, and never reaches a tool (:class:`BearerTokenGate`);
- binding anything but a loopback address without a token is refused at start, and so is a
  token shorter than :data:`MIN_TOKEN_CHARS` (:func:`check_http_exposure`).

Each server keeps an identical copy of this file (they share no code by design);
`tests/test_http_auth.py` fails when the copies differ.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

MIN_TOKEN_CHARS = 32
"""Shortest token accepted (``openssl rand -hex 32`` makes 64 characters)."""
DOOR_OPTION_HELP = (
    "HTTP only: every request must send 'Authorization: Bearer <$NAME>' (32+ characters). "
    "Required to bind anything but a loopback address."
)


class HttpAuthError(ValueError):
    """The HTTP door refused: a bad configuration at start, or a request without the token."""


def check_http_exposure(host: str, token: str | None) -> None:
    """HTTP beyond this machine needs a token of :data:`MIN_TOKEN_CHARS` or more."""
    if token is not None:
        if len(token) < MIN_TOKEN_CHARS:
            raise HttpAuthError(
                f"the HTTP token is {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                "(e.g. `openssl rand -hex 32`)"
            )
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HttpAuthError(
            f"serving HTTP on {host} without a token: anyone who reaches it could call every "
            "tool; set --token-env NAME (a variable holding a random token of 32+ characters) "
            "and send it as 'Authorization: Bearer ...', or bind 127.0.0.1"
        )


def check_bearer_token(authorization: str | None, token: str) -> None:
    """The request's ``Authorization`` header carries the server's token."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        raise HttpAuthError(
            "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the "
            "value of the server's --token-env variable"
        )


def http_token(transport: str, host: str, token_env: str | None) -> str | None:
    """The token ``--token-env`` names, checked; ``None`` for stdio or an open loopback."""
    if transport != "http":
        if token_env:
            raise HttpAuthError("--token-env applies to --transport http only")
        return None
    token = None
    if token_env:
        token = os.environ.get(token_env) or None
        if token is None:
            raise HttpAuthError(f"--token-env {token_env}: the variable is not set (or empty)")
    check_http_exposure(host, token)
    return token


def http_middleware(token: str | None) -> list[Middleware]:
    """What to pass as ``middleware=`` to the server's HTTP run: the gate, when a token is set."""
    return [Middleware(BearerTokenGate, token=token)] if token else []


class BearerTokenGate:
    """ASGI middleware: refuse every HTTP request without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the server's own start and stop
            await self.app(scope, receive, send)
            return
        try:
            check_bearer_token(_header(scope, b"authorization"), self.token)
        except HttpAuthError as exc:
            client = (scope.get("client") or ("?", 0))[0]
            log.warning("refused an HTTP request from %s: %s", client, exc)
            await _refuse(send, str(exc))
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"error": "unauthorized", "detail": message}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
