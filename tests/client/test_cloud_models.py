"""Claude on Bedrock and Vertex through the anthropic SDK's own cloud clients, against local
servers at the paths those clients call (the body is the Messages API's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from client_support import FINISH, fake_policy
from fake_messages_api import ScriptedAPI, error, tool_use

from nightfix.agent import run_investigation
from nightfix.errors import ModelError
from nightfix.models import make_model
from nightfix.policy import ModelPolicy

BEDROCK_PATH = "/model/claude-test/invoke"
VERTEX_PATH = (
    "/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-test:rawPredict"
)


async def test_bedrock_run_with_an_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key-0123456789")
    script = [
        error(429, "rate_limit_error", "slow down", {"retry-after": "0"}),
        tool_use("toolu_1", "errors__get_issue", {"issue_id": "1"}),
        tool_use("toolu_2", "finish", FINISH["input"]),
    ]
    with ScriptedAPI(script, BEDROCK_PATH) as api:
        model = {"provider": "bedrock", "name": "claude-test", "base_url": api.url}
        policy = fake_policy(tmp_path, model=model)
        result = await run_investigation(policy, "1", make_model("bedrock", policy))
    assert str(result.stop_reason) == "completed", result.message
    assert result.steps == 2 and len(api.requests) == 3
    first = api.requests[1]
    assert "model" not in first and first["anthropic_version"]  # the model is in the path
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert api.headers[1]["authorization"] == "Bearer bedrock-key-0123456789"
    assert "ConnectionPoolExhausted" in api.requests[2]["messages"][-1]["content"][0]["content"]


async def test_vertex_run_with_an_access_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "proj-1")
    monkeypatch.setenv("NF_TEST_GCP_TOKEN", "ya29.test-access-token")
    with ScriptedAPI([tool_use("toolu_1", "finish", FINISH["input"])], VERTEX_PATH) as api:
        model = {
            "provider": "vertex",
            "name": "claude-test",
            "base_url": api.url,
            "api_key_env": "NF_TEST_GCP_TOKEN",
        }
        policy = fake_policy(tmp_path, model=model)
        result = await run_investigation(policy, "1", make_model("vertex", policy))
    assert str(result.stop_reason) == "completed", result.message
    assert result.usage.input_tokens == 100
    assert "model" not in api.requests[0] and api.requests[0]["anthropic_version"]
    assert api.headers[0]["authorization"] == "Bearer ya29.test-access-token"


def test_cloud_providers_say_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="NF_BK is not set and boto3 is not installed"):
        make_model("bedrock", _policy(ModelPolicy(provider="bedrock", api_key_env="NF_BK")))
    monkeypatch.setenv("NF_BK", "bedrock-key-0123456789")
    with pytest.raises(ModelError, match="bedrock: No AWS region"):
        make_model("bedrock", _policy(ModelPolicy(provider="bedrock", api_key_env="NF_BK")))
    with pytest.raises(ModelError, match="google-auth is not installed"):
        make_model("vertex", _policy(ModelPolicy(provider="vertex")))
    with pytest.raises(ModelError, match="NF_TOKEN is not set"):
        make_model("vertex", _policy(ModelPolicy(provider="vertex", api_key_env="NF_TOKEN")))
    monkeypatch.setenv("NF_TOKEN", "ya29.token-token")
    with pytest.raises(ModelError, match="set ANTHROPIC_VERTEX_PROJECT_ID"):
        make_model("vertex", _policy(ModelPolicy(provider="vertex", api_key_env="NF_TOKEN")))


class _policy:  # make_model reads only .model
    def __init__(self, model: ModelPolicy) -> None:
        self.model = model
