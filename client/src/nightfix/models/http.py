"""What every HTTP model provider shares: the key, extra headers, and when to retry.

Secrets come from the environment only: the policy names the variable (``api_key_env``) and
header values may reference variables (``${VAR}``), read here when the model is made.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping

from nightfix.errors import ModelError
from nightfix.policy import ENV_REF

MAX_RETRY_AFTER_S = 30.0
"""A server asking for a longer wait is waited on this long at most (then retried)."""


def read_key(variable: str) -> str | None:
    """The API key held in ``variable`` (``None`` when unset or empty)."""
    return os.environ.get(variable) or None


def expand_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with ``${VAR}`` filled from the environment; an unset VAR is an error
    (a gateway header sent empty would fail later with a far less clear message)."""

    def value(name: str, template: str) -> str:
        missing = [v for v in ENV_REF.findall(template) if not os.environ.get(v)]
        if missing:
            raise ModelError(
                f"model.headers.{name} uses ${{{missing[0]}}}, which is not set in the "
                "environment: set it, or remove the header from the policy"
            )
        return ENV_REF.sub(lambda m: os.environ[m.group(1)], template)

    return {name: value(name, template) for name, template in headers.items()}


def retry_delay(headers: Mapping[str, str], attempt: int, base: float) -> float:
    """Seconds to wait before retry ``attempt + 1``: the server's ``retry-after-ms`` or
    ``retry-after`` (seconds) when given, else exponential back-off with jitter; capped."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return min(max(float(raw) * scale, 0.0), MAX_RETRY_AFTER_S)
        except ValueError:
            continue  # an HTTP date or garbage: fall back to back-off
    return min(base * (2**attempt) * (0.5 + random.random()), MAX_RETRY_AFTER_S)  # noqa: S311
