"""Settings from the environment (the deployment's ``env:`` block)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    http_timeout_s: float
    """Seconds to wait for the payment provider's answer."""
    max_retries: int
    debug: bool


def load(env: Mapping[str, str]) -> Settings:
    return Settings(
        http_timeout_s=int(env.get("HTTP_TIMEOUT_S", "10")),
        max_retries=int(env.get("MAX_RETRIES", "3")),
        debug=env.get("DEBUG", "false").strip().lower() in TRUE,
    )
