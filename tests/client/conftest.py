"""The client's test helpers live in client_support.py (importable from every test here).

No test makes a real model request (pydantic-ai's rule): every HTTP request an SDK sends
through ``httpx2`` must go to this machine (the local stand-ins speaking each API), and the
model keys and endpoints of the environment are removed, so a subprocess (``nightfix run``)
cannot reach a real provider either.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MODEL_ENV = (
    *("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    *("AWS_BEARER_TOKEN_BEDROCK", "ANTHROPIC_BEDROCK_BASE_URL", "AWS_REGION"),
    *("ANTHROPIC_VERTEX_PROJECT_ID", "ANTHROPIC_VERTEX_BASE_URL", "CLOUD_ML_REGION"),
)


class RealModelRequestError(RuntimeError):
    """A test tried to send an HTTP request off this machine."""


def refuse_remote(request: httpx2.Request) -> None:
    if request.url.host not in LOOPBACK:
        raise RealModelRequestError(
            f"tests never make real model requests: refused {request.method} {request.url}"
        )


@pytest.fixture(autouse=True)
def no_real_model_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in MODEL_ENV:
        monkeypatch.delenv(name, raising=False)
    sync_send, async_send = httpx2.Client.send, httpx2.AsyncClient.send

    def send(self: httpx2.Client, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        refuse_remote(request)
        return sync_send(self, request, **kwargs)

    async def asend(
        self: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any
    ) -> httpx2.Response:
        refuse_remote(request)
        return await async_send(self, request, **kwargs)

    monkeypatch.setattr(httpx2.Client, "send", send)
    monkeypatch.setattr(httpx2.AsyncClient, "send", asend)
    yield
