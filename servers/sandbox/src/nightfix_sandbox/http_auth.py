"""The HTTP transport's door: every request carries the server's bearer token.

An ASGI middleware in front of the MCP app. The check itself is
:func:`nightfix_sandbox.security.check_bearer_token`; a refused request gets 401 with a JSON
body saying what to send, and never reaches a tool.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from nightfix_sandbox.errors import SecurityError
from nightfix_sandbox.security import check_bearer_token

log = logging.getLogger(__name__)


class BearerTokenGate:
    """Refuse every HTTP request without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the server's own start and stop
            await self.app(scope, receive, send)
            return
        try:
            check_bearer_token(_header(scope, b"authorization"), self.token)
        except SecurityError as exc:
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
        (b"www-authenticate", b'Bearer realm="nightfix-sandbox"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
