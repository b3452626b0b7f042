"""Claude on Google Vertex AI, through the ``anthropic`` SDK's own ``AsyncAnthropicVertex``.

Everything of :mod:`nightfix.models.anthropic` holds (tool names, prompt caching, retries on
429/529, ``model_error``); only the client differs. ``model.name`` is the Vertex model id
(``claude-sonnet-4-5@20250929``); region and project come from ``CLOUD_ML_REGION`` and
``ANTHROPIC_VERTEX_PROJECT_ID``.

Authentication: an OAuth access token in the variable ``model.api_key_env`` names, when set
(tokens expire: fine for one run, not for a long ``watch``); otherwise Application Default
Credentials through ``google-auth``, which must be installed (``pip install google-auth``).
"""

from __future__ import annotations

import importlib.util
import os

import anthropic

from nightfix.errors import ModelError
from nightfix.models.anthropic import AnthropicModel
from nightfix.models.http import expand_headers, read_key
from nightfix.policy import ModelPolicy

PROJECT_ENV = "ANTHROPIC_VERTEX_PROJECT_ID"


class VertexModel(AnthropicModel):
    provider = "vertex"

    @classmethod
    def from_policy(cls, policy: ModelPolicy) -> AnthropicModel:
        token = read_key(policy.api_key_env) if policy.api_key_env else None
        if policy.api_key_env and token is None:
            raise ModelError(f"{policy.api_key_env} is not set (it should hold an access token)")
        if token is not None and not os.environ.get(PROJECT_ENV):
            raise ModelError(f"vertex: set {PROJECT_ENV} (with a token, nothing else names it)")
        if token is None and not _google_auth_installed():
            raise ModelError(
                "vertex: no access token (model.api_key_env) and google-auth is not installed: "
                "`pip install google-auth` to use Application Default Credentials"
            )
        try:
            client = anthropic.AsyncAnthropicVertex(
                access_token=token,
                base_url=policy.base_url,
                max_retries=0,  # retries are ours: bounded, and only on 429/529
                timeout=policy.timeout_s,
                default_headers=expand_headers(policy.headers) or None,
            )
        except ValueError as exc:  # no region or project
            raise ModelError(f"vertex: {exc}") from exc
        return cls.with_client(policy, client)


def _google_auth_installed() -> bool:
    try:
        return importlib.util.find_spec("google.auth") is not None
    except ModuleNotFoundError:  # no ``google`` namespace at all
        return False
