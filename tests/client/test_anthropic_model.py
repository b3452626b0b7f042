"""The Anthropic model through the real SDK, against a local server speaking the Messages API."""

from __future__ import annotations

from pathlib import Path

from client_support import FINISH, fake_policy
from fake_messages_api import FakeMessagesAPI, error, tool_use

from nightfix.agent import run_investigation
from nightfix.models.anthropic import AnthropicModel
from nightfix.trace import read_trace


def claude(api: FakeMessagesAPI, retries: int = 3) -> AnthropicModel:
    return AnthropicModel(
        "claude-test",
        max_retries=retries,
        base_url=api.url,
        api_key="sk-ant-test-key-123456",
        retry_base_s=0.01,
    )


async def test_tool_use_turns_usage_and_a_429_then_success(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    script = [
        error(429, "rate_limit_error", "slow down", {"retry-after": "0"}),
        tool_use(
            "toolu_1", "errors__get_issue", {"issue_id": "1"}, cache_creation_input_tokens=1000
        ),
        tool_use("toolu_2", "finish", FINISH["input"], cache_read_input_tokens=1000),
    ]
    with FakeMessagesAPI(script) as api:
        result = await run_investigation(policy, "1", claude(api))
    assert str(result.stop_reason) == "completed", result.message
    assert len(api.requests) == 3  # the 429, its retry, the second turn
    first, second = api.requests[1], api.requests[2]
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    names = {t["name"] for t in first["tools"]}
    assert "errors__get_issue" in names and "finish" in names
    assert "github__commit_files" not in names
    answer = second["messages"][-1]["content"][0]
    assert answer["type"] == "tool_result" and answer["tool_use_id"] == "toolu_1"
    assert (
        'trust="untrusted"' in answer["content"] and "ConnectionPoolExhausted" in answer["content"]
    )
    headers = {k.lower(): v for k, v in api.headers[1].items()}
    sent_key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert sent_key == "sk-ant-test-key-123456"
    assert result.usage.input_tokens == 200 and result.usage.output_tokens == 40
    assert result.usage.cache_creation_input_tokens == 1000
    assert result.usage.cache_read_input_tokens == 1000
    expected = (200 * 3.0 + 40 * 15.0 + 1000 * 3.75 + 1000 * 0.30) / 1e6
    assert abs(result.cost_usd - expected) < 1e-12
    turns = [e for e in read_trace(result.trace_path) if e["type"] == "model_turn"]
    assert turns[0]["tool_calls"][0]["name"] == "errors.get_issue"
    assert turns[0]["usage"]["cache_creation_input_tokens"] == 1000


async def test_a_500_ends_the_run_with_model_error_without_retrying(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    with FakeMessagesAPI([error(500, "api_error", "internal")]) as api:
        result = await run_investigation(policy, "1", claude(api))
    assert str(result.stop_reason) == "model_error" and result.stop_reason.exit_code == 50
    assert "HTTP 500" in result.message and len(api.requests) == 1


async def test_overload_retries_are_bounded(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    overloaded = error(529, "overloaded_error", "overloaded", {"retry-after": "0"})
    with FakeMessagesAPI([overloaded] * 5) as api:
        result = await run_investigation(policy, "1", claude(api, retries=2))
    assert str(result.stop_reason) == "model_error"
    assert len(api.requests) == 3 and "after 3 attempt(s)" in result.message


async def test_api_key_never_reaches_trace_or_audit(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-123456")
    policy = fake_policy(tmp_path)
    script = [
        tool_use("toolu_1", "finish", {**FINISH["input"], "fix": "key sk-ant-test-key-123456"})
    ]
    with FakeMessagesAPI(script) as api:
        result = await run_investigation(policy, "1", claude(api))
    assert str(result.stop_reason) == "completed"
    for path in (result.trace_path, policy.audit.path, policy.state.db):
        assert b"sk-ant-test-key-123456" not in Path(path).read_bytes()


async def test_policy_endpoint_key_variable_and_headers_reach_the_sdk(
    tmp_path: Path, monkeypatch: object
) -> None:
    import pytest

    from nightfix.models import make_model

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("NF_TEST_CLAUDE_KEY", "sk-ant-from-named-variable")
    monkeypatch.setenv("NF_TEST_TEAM", "nightfix-team")
    with FakeMessagesAPI([tool_use("toolu_1", "finish", FINISH["input"])]) as api:
        policy = fake_policy(
            tmp_path,
            model={
                "provider": "anthropic",
                "name": "claude-test",
                "base_url": api.url,
                "api_key_env": "NF_TEST_CLAUDE_KEY",
                "headers": {"x-team": "${NF_TEST_TEAM}"},
            },
        )
        result = await run_investigation(policy, "1", make_model("anthropic", policy))
    assert str(result.stop_reason) == "completed", result.message
    sent = api.headers[0]
    key = sent.get("x-api-key") or sent.get("authorization", "").removeprefix("Bearer ")
    assert key == "sk-ant-from-named-variable"
    assert api.headers[0]["x-team"] == "nightfix-team"
    assert api.requests[0]["model"] == "claude-test"
    first = api.requests[0]["messages"][0]
    assert first["role"] == "user" and first["content"][0]["type"] == "text"
    assert first["content"][-1]["cache_control"] == {"type": "ephemeral"}
