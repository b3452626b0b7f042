"""Model choice, model policy checks, the provider-neutral seam, and the no-real-requests
guard of this suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from client_support import FINISH, fake_policy, fake_policy_data
from fake_chat_api import FakeChatAPI, call

from nightfix.agent import run_investigation
from nightfix.errors import NightfixError, PolicyError
from nightfix.models import PROVIDERS, make_model, resolve_spec
from nightfix.models.http import MAX_RETRY_AFTER_S, retry_delay
from nightfix.models.openai import OpenAIModel
from nightfix.models.replay import load_turns
from nightfix.policy import ModelPolicy, parse_policy

ROOT = Path(__file__).resolve().parents[2]


def policy_with_model(tmp: Path, **model: object) -> str:
    import yaml

    return yaml.safe_dump(fake_policy_data(tmp, model=model))


def test_api_key_pasted_as_api_key_env_is_refused(tmp_path: Path) -> None:
    text = policy_with_model(tmp_path, provider="openai", api_key_env="sk-proj-abc123-def456")
    with pytest.raises(PolicyError, match="api_key_env must be the NAME of an environment"):
        parse_policy(text)
    parse_policy(policy_with_model(tmp_path, provider="openai", api_key_env="LLM_GATEWAY_KEY"))


def test_credentials_in_base_url_are_refused(tmp_path: Path) -> None:
    text = policy_with_model(
        tmp_path, provider="openai", base_url="https://user:sk-secret@gateway.example/v1"
    )
    with pytest.raises(PolicyError, match="must not carry credentials"):
        parse_policy(text)
    with pytest.raises(PolicyError, match="must start with http"):
        parse_policy(policy_with_model(tmp_path, provider="openai", base_url="file:///etc"))


async def test_model_key_echoed_into_trace_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's variable may have any name (``NF_LLM_GATEWAY`` looks harmless) and a header
    may carry a second credential; a model (or a gateway) echoing them leaks neither."""
    key, session = "gw-0123456789abcdef", "sess-fedcba9876543210"
    monkeypatch.setenv("NF_LLM_GATEWAY", key)
    monkeypatch.setenv("NF_GW_SESSION", session)
    leaked = {**FINISH["input"], "fix": f"used {key} and {session}"}
    with FakeChatAPI([call("call_1", "finish", leaked)]) as api:
        policy = fake_policy(
            tmp_path,
            model={
                "provider": "openai",
                "name": "gpt-test",
                "base_url": api.base_url,
                "api_key_env": "NF_LLM_GATEWAY",
                "headers": {"x-session": "${NF_GW_SESSION}"},
            },
        )
        result = await run_investigation(policy, "1", make_model("openai", policy))
    assert str(result.stop_reason) == "completed", result.message
    assert api.headers[0]["authorization"] == f"Bearer {key}"
    assert api.headers[0]["x-session"] == session
    for path in (result.trace_path, policy.audit.path, policy.state.db):
        data = Path(path).read_bytes()
        assert key.encode() not in data and session.encode() not in data
    assert "[REDACTED:NF_LLM_GATEWAY]" in Path(result.trace_path).read_text()


async def test_real_model_requests_are_refused_in_tests() -> None:
    """The suite's guard: an SDK pointed at a real provider never sends the request."""
    model = OpenAIModel("gpt-test", "sk-not-real", base_url="https://api.openai.com/v1")
    with pytest.raises(Exception, match="tests never make real model requests") as caught:
        await model.complete("system", [], [])
    assert type(caught.value).__name__ == "RealModelRequestError"


def test_every_provider_of_the_policy_has_a_module() -> None:
    choices = set(get_args(ModelPolicy.model_fields["provider"].annotation))
    assert choices == set(PROVIDERS) | {"replay"}


def test_model_choice_run_overrides_policy(tmp_path: Path) -> None:
    settings = ModelPolicy(provider="openai", name="gpt-policy")
    assert resolve_spec(None, settings) == "openai"
    assert resolve_spec("anthropic", settings) == "anthropic"
    with pytest.raises(NightfixError, match="pass --model replay:PATH"):
        resolve_spec(None, ModelPolicy(provider="replay"))
    with pytest.raises(NightfixError, match="unknown model 'gemini'"):
        resolve_spec("gemini", settings)
    policy = fake_policy(tmp_path, model={"provider": "openai", "base_url": "http://127.0.0.1:9"})
    assert make_model("openai:gpt-override", policy).name == "openai:gpt-override"
    assert make_model("openai", policy).name == "openai:claude-sonnet-4-5"


def test_retry_delay_honours_the_server() -> None:
    assert retry_delay({"retry-after": "7"}, 0, 100.0) == 7.0
    assert retry_delay({"retry-after-ms": "1500", "retry-after": "9"}, 0, 100.0) == 1.5
    assert retry_delay({"retry-after": "3600"}, 0, 1.0) == MAX_RETRY_AFTER_S
    assert 0.5 <= retry_delay({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, 0, 1.0) <= 1.5


def test_old_traces_and_the_demo_trajectory_still_replay(tmp_path: Path) -> None:
    demo = load_turns(ROOT / "examples/checkout-service/trajectory.yaml", {"issue_id": "7"})
    assert demo[0].tool_calls[0].name == "errors.get_issue"
    assert demo[0].tool_calls[0].input == {"issue_id": "7"}
    assert demo[0].usage.input_tokens == 2900 and not demo[0].usage.estimated
    assert demo[-1].tool_calls[-1].name == "finish"
    old = tmp_path / "old.jsonl"  # a trace as runs wrote it before providers were neutral
    events = [
        {"type": "run_start", "run_id": "r", "model": "anthropic:claude"},
        {
            "type": "model_turn",
            "ts": "2026-11-01T00:00:00.000+00:00",
            "t": 1.2,
            "step": 1,
            "text": "reading",
            "tool_calls": [{"id": "toolu_1", "name": "errors.get_issue", "input": {"a": 1}}],
            "usage": {
                "input_tokens": 10,
                "output_tokens": 2,
                "cache_creation_input_tokens": 3,
                "cache_read_input_tokens": 4,
            },
            "duration_s": 0.5,
        },
    ]
    old.write_text("".join(json.dumps(e) + "\n" for e in events))
    (turn,) = load_turns(old, {})
    assert turn.tool_calls[0].id == "toolu_1" and turn.tool_calls[0].invalid_arguments is None
    assert turn.usage.cache_read_input_tokens == 4 and turn.usage.reported_usd is None
