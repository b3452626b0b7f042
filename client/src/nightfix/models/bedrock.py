"""Claude on Amazon Bedrock, through the ``anthropic`` SDK's own ``AsyncAnthropicBedrock``.

Everything of :mod:`nightfix.models.anthropic` holds (tool names, prompt caching, retries on
429/529, ``model_error``); only the client differs. ``model.name`` is the Bedrock model id
(``anthropic.claude-sonnet-4-5-20250929-v1:0`` or an inference profile), the region comes from
``AWS_REGION`` / ``AWS_DEFAULT_REGION``.

Authentication: a Bedrock API key in ``AWS_BEARER_TOKEN_BEDROCK`` (or the variable
``model.api_key_env`` names), sent as a bearer token; without one, the SDK signs with SigV4
from the usual AWS credentials, which needs ``boto3`` installed (``pip install boto3``).
"""

from __future__ import annotations

import importlib.util

import anthropic

from nightfix.errors import ModelError
from nightfix.models.anthropic import AnthropicModel
from nightfix.models.http import expand_headers, read_key
from nightfix.policy import ModelPolicy

KEY_ENV = "AWS_BEARER_TOKEN_BEDROCK"


class BedrockModel(AnthropicModel):
    provider = "bedrock"

    @classmethod
    def from_policy(cls, policy: ModelPolicy) -> AnthropicModel:
        key = read_key(policy.api_key_env or KEY_ENV)
        if key is None and importlib.util.find_spec("boto3") is None:
            raise ModelError(
                f"{policy.api_key_env or KEY_ENV} is not set and boto3 is not installed: put a "
                "Bedrock API key in that variable, or `pip install boto3` to sign with AWS "
                "credentials"
            )
        try:
            client = anthropic.AsyncAnthropicBedrock(
                api_key=key,
                base_url=policy.base_url,
                max_retries=0,  # retries are ours: bounded, and only on 429/529
                timeout=policy.timeout_s,
                default_headers=expand_headers(policy.headers) or None,
            )
        except ValueError as exc:  # no region, or a key and AWS credentials at once
            raise ModelError(f"bedrock: {exc}") from exc
        return cls.with_client(policy, client)
