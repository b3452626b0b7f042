"""The openai provider through the real ``openai`` SDK, against a local server speaking Chat
Completions, driving whole runs over the fake MCP servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from client_support import FINISH, calls, fake_policy
from fake_chat_api import USAGE, FakeChatAPI, call, completion, failure
from fake_messages_api import HANG

from nightfix import display, state
from nightfix.agent import run_investigation
from nightfix.errors import ModelError
from nightfix.models.openai import OpenAIModel
from nightfix.models.replay import ReplayModel
from nightfix.policy import ModelPolicy
from nightfix.trace import completeness_problems, read_trace

KEY = "sk-test-openai-key-123456"
FINISH_ARGS = json.dumps(FINISH["input"])


def gpt(api: FakeChatAPI, retries: int = 3, timeout_s: float = 30) -> OpenAIModel:
    model = OpenAIModel(
        "gpt-test", KEY, base_url=api.base_url, max_retries=retries, timeout_s=timeout_s
    )
    model.delays = []  # type: ignore[attr-defined]

    async def record(delay: float) -> None:
        model.delays.append(delay)  # type: ignore[attr-defined]

    model.sleep = record
    return model


def turns(trace_path: str) -> list[dict[str, Any]]:
    return [e for e in read_trace(trace_path) if e["type"] == "model_turn"]


async def test_parallel_tool_calls_usage_cost_and_the_wire_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_TEST_OPENAI_KEY", KEY)
    monkeypatch.setenv("NF_TEST_GATEWAY_TAG", "team-nightfix")
    policy = fake_policy(tmp_path)
    script = [
        completion(
            "Reading the issue and the list.",
            [
                ("call_a", "errors__get_issue", '{"issue_id": "1"}'),
                ("call_b", "errors__list_issues", '{"limit": 5}'),
            ],
            usage={**USAGE, "prompt_tokens_details": {"cached_tokens": 40}, "cost": 0.0042},
        ),
        call("call_c", "finish", FINISH["input"]),
    ]
    with FakeChatAPI(script) as api:
        settings = ModelPolicy(
            provider="openai",
            name="gpt-test",
            base_url=api.base_url,
            api_key_env="NF_TEST_OPENAI_KEY",
            headers={"x-gateway-tag": "${NF_TEST_GATEWAY_TAG}"},
        )
        result = await run_investigation(policy, "1", OpenAIModel.from_policy(settings))
    assert str(result.stop_reason) == "completed", result.message
    first, second = api.requests
    assert first["messages"][0]["role"] == "system" and first["parallel_tool_calls"] is True
    names = {t["function"]["name"] for t in first["tools"]}
    assert {"errors__get_issue", "finish"} <= names and "github__commit_files" not in names
    assert api.headers[0]["authorization"] == f"Bearer {KEY}"
    assert api.headers[0]["x-gateway-tag"] == "team-nightfix"
    assistant, answer_a, answer_b = second["messages"][-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"issue_id": "1"}
    assert answer_a["role"] == "tool" and answer_a["tool_call_id"] == "call_a"
    assert (
        "ConnectionPoolExhausted" in answer_a["content"]
        and 'trust="untrusted"' in answer_a["content"]
    )
    assert answer_b["tool_call_id"] == "call_b" and "next_cursor" in answer_b["content"]
    assert [c["tool"] for c in calls(tmp_path) if c["server"] == "errors"] == [
        "get_issue",
        "list_issues",
    ]
    assert result.usage.input_tokens == 60 + 100 and result.usage.cache_read_input_tokens == 40
    assert not result.usage.estimated
    reported, priced = 0.0042, (100 * 3.0 + 20 * 15.0) / 1e6  # second turn priced by policy
    assert abs(result.cost_usd - (reported + priced)) < 1e-12
    traced = turns(result.trace_path)
    assert traced[0]["usage"]["reported_usd"] == 0.0042
    assert [c["name"] for c in traced[0]["tool_calls"]] == [
        "errors.get_issue",
        "errors.list_issues",
    ]


async def test_malformed_json_arguments_are_told_to_the_model(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    script = [
        completion(calls=[("call_1", "errors__get_issue", '{"issue_id": "1"')]),
        completion(calls=[("call_2", "errors__get_issue", '["1"]')]),
        completion(calls=[("call_3", "finish", FINISH_ARGS)]),
    ]
    with FakeChatAPI(script) as api:
        result = await run_investigation(policy, "1", gpt(api))
    assert str(result.stop_reason) == "completed", result.message
    told = api.requests[1]["messages"][-1]
    assert told["role"] == "tool" and told["tool_call_id"] == "call_1"
    assert told["content"].startswith("ERROR: tool call refused")
    assert "malformed JSON" in told["content"] and '{"issue_id": "1"' in told["content"]
    assert "not an object" in api.requests[2]["messages"][-1]["content"]
    assert not [c for c in calls(tmp_path) if c["tool"] == "get_issue"]  # nothing was run
    assert completeness_problems(read_trace(result.trace_path)) == []


async def test_denied_tool_with_malformed_arguments_is_refused(tmp_path: Path) -> None:
    """Broken arguments must not turn a call to a tool the policy forbids into a soft error
    the run survives: it is still a tool_denied stop, audited."""
    policy = fake_policy(tmp_path)
    script = [completion(calls=[("call_1", "errors__env_names", "{not json")])]
    with FakeChatAPI(script) as api:
        result = await run_investigation(policy, "1", gpt(api))
    assert str(result.stop_reason) == "tool_denied:errors.env_names"
    assert len(api.requests) == 1
    assert "tool_denied" in Path(policy.audit.path).read_text()


async def test_an_answer_without_usage_is_estimated_and_marked(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    script = [call("call_1", "finish", FINISH["input"], usage=None)]
    with FakeChatAPI(script) as api:
        result = await run_investigation(policy, "1", gpt(api))
    assert str(result.stop_reason) == "completed", result.message
    assert result.usage.estimated and result.usage.input_tokens > 100
    assert result.usage.output_tokens > 0 and result.cost_usd > 0
    events = read_trace(result.trace_path)
    assert turns(result.trace_path)[0]["usage"]["estimated"] is True
    assert events[-1]["type"] == "stop" and events[-1]["usage"]["estimated"] is True
    record = state.get_run(state.connect(policy.state.db), result.run_id)
    assert record is not None and record["tokens_estimated"] == 1
    assert "~" in display.runs_table([record]).splitlines()[1]


async def test_a_429_is_retried_after_the_servers_retry_after(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    script = [
        failure(429, "rate limited", {"retry-after": "7"}),
        failure(503, "busy", {"retry-after-ms": "1500"}),
        call("call_1", "finish", FINISH["input"]),
    ]
    with FakeChatAPI(script) as api:
        model = gpt(api, retries=3)
        result = await run_investigation(policy, "1", model)
    assert str(result.stop_reason) == "completed", result.message
    assert len(api.requests) == 3
    assert model.delays == [7.0, 1.5]  # type: ignore[attr-defined]


async def test_retries_are_bounded(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    with FakeChatAPI([failure(503, "busy", {"retry-after": "0"})] * 5) as api:
        result = await run_investigation(policy, "1", gpt(api, retries=2))
    assert str(result.stop_reason) == "model_error"
    assert len(api.requests) == 3 and "HTTP 503 after 3 attempt(s)" in result.message


async def test_a_500_ends_the_run_with_model_error_without_retrying(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    with FakeChatAPI([failure(500, "internal")]) as api:
        result = await run_investigation(policy, "1", gpt(api))
    assert str(result.stop_reason) == "model_error" and result.stop_reason.exit_code == 50
    assert result.message == "model API answered HTTP 500: internal" and len(api.requests) == 1


async def test_a_hang_past_the_timeout_is_a_model_error(tmp_path: Path) -> None:
    policy = fake_policy(tmp_path)
    with FakeChatAPI([HANG]) as api:
        result = await run_investigation(policy, "1", gpt(api, timeout_s=0.5))
    assert str(result.stop_reason) == "model_error"
    assert "did not answer within 0.5s" in result.message and len(api.requests) == 1


async def test_a_recorded_openai_run_replays_turn_for_turn(tmp_path: Path) -> None:
    """The trace of a run with a malformed call and estimated usage feeds back as it was."""
    policy = fake_policy(tmp_path)
    script = [
        completion("first", [("call_1", "errors__get_issue", "{oops")], usage=None),
        call("call_2", "finish", FINISH["input"]),
    ]
    with FakeChatAPI(script) as api:
        recorded = await run_investigation(policy, "1", gpt(api))
    replayed = ReplayModel.from_file(recorded.trace_path)
    assert replayed.turns[0].tool_calls[0].invalid_arguments is not None
    assert replayed.turns[0].usage.estimated and not replayed.turns[1].usage.estimated
    again = await run_investigation(fake_policy(tmp_path / "again"), "1", replayed)
    assert str(again.stop_reason) == "completed"
    assert again.usage == recorded.usage


def test_no_key_and_no_base_url_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="OPENAI_API_KEY is not set"):
        OpenAIModel.from_policy(ModelPolicy(provider="openai", name="gpt-test"))


def test_a_header_naming_an_unset_variable_is_a_clear_error() -> None:
    settings = ModelPolicy(
        provider="openai", base_url="http://127.0.0.1:9", headers={"x-key": "${NF_NOT_SET_X}"}
    )
    with pytest.raises(ModelError, match=r"model.headers.x-key uses \$\{NF_NOT_SET_X\}"):
        OpenAIModel.from_policy(settings)


def test_nightfix_run_uses_the_policys_openai_provider(tmp_path: Path) -> None:
    """`nightfix run` with no --model: the policy's provider, endpoint and key variable."""
    import os
    import subprocess
    import sys

    from client_support import write_policy

    script = [
        completion("Reading the issue.", [("call_1", "errors__get_issue", '{"issue_id": "1"}')]),
        call("call_2", "finish", FINISH["input"]),
    ]
    with FakeChatAPI(script) as api:
        model = {"provider": "openai", "name": "gpt-test", "base_url": api.base_url}
        policy = write_policy(tmp_path, model={**model, "api_key_env": "NF_TEST_OPENAI_KEY"})
        done = subprocess.run(
            [sys.executable, "-m", "nightfix.cli", "run", "--issue", "1", "--policy", str(policy)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NF_TEST_OPENAI_KEY": KEY},
        )
    assert done.returncode == 0, done.stderr
    assert "stop reason: completed" in done.stdout and "root_cause: pool hard-coded" in done.stdout
    assert len(api.requests) == 2 and api.headers[0]["authorization"] == f"Bearer {KEY}"
    assert "ConnectionPoolExhausted" in api.requests[1]["messages"][-1]["content"]
    trace = done.stdout.split("trace: ")[1].strip()
    assert read_trace(trace)[0]["model"] == "openai:gpt-test"
    assert KEY not in Path(trace).read_text()
