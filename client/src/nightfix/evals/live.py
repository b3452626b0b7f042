"""Before a live model's first scenario: is it usable at all? Fail in seconds, not hang.

The provider is built the way a run builds it (so a missing key is the provider's own clear
error), then its endpoint is resolved and connected to with a short deadline. No request is
sent and no key leaves the process.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from nightfix.errors import ModelError, NightfixError
from nightfix.models import make_model, resolve_spec
from nightfix.policy import load_policy

CONNECT_TIMEOUT_S = 5.0
DEFAULT_ENDPOINTS = {
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
}


class ModelUnavailable(NightfixError):
    """The live model cannot be reached or is not configured (``nightfix eval`` exit 3)."""


def preflight(spec: str, policy_path: Path) -> str:
    """Check ``spec`` under the eval's policy; returns the endpoint it will use."""
    policy = load_policy(policy_path)
    chosen = resolve_spec(spec, policy.model)
    provider = chosen.split(":", 1)[0]
    try:
        make_model(chosen, policy)
    except ModelError as exc:
        raise ModelUnavailable(f"model {chosen}: {exc}") from exc
    if provider not in DEFAULT_ENDPOINTS:
        return f"{provider} (its SDK's endpoint)"
    variable, default = DEFAULT_ENDPOINTS[provider]
    url = policy.model.base_url or os.environ.get(variable) or default
    reachable(url)
    return url


def reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Resolve and connect to ``url``'s host within ``timeout`` seconds (DNS included)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 1)
    if not outcome:
        raise ModelUnavailable(f"model endpoint {url} did not answer within {timeout:g}s")
    error = outcome[0]
    if error is not None:
        raise ModelUnavailable(
            f"model endpoint {url} is not reachable from this machine ({error}); "
            "set model.base_url to a reachable endpoint, or use --model replay"
        )
