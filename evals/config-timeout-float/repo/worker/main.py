"""Worker start-up: settings, then the client for the payment provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.settings import Settings, load


@dataclass(frozen=True)
class ProviderClient:
    timeout_s: float
    retries: int


def start(env: Mapping[str, str]) -> ProviderClient:
    settings: Settings = load(env)
    return ProviderClient(timeout_s=settings.http_timeout_s, retries=settings.max_retries)
