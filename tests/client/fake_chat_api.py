"""A local HTTP server speaking OpenAI Chat Completions (``POST /v1/chat/completions``),
with reply builders in the documented response shape (``chat.completion`` objects, function
tool calls whose ``arguments`` is a JSON *string*, ``usage`` optional as local servers do)."""

from __future__ import annotations

import json
from typing import Any

from fake_messages_api import Reply, ScriptedAPI

USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


def completion(
    content: str | None = None,
    calls: list[tuple[str, str, str]] | None = None,
    usage: dict[str, Any] | None = USAGE,
    finish: str = "tool_calls",
    headers: dict[str, str] | None = None,
) -> Reply:
    """A ``chat.completion``; ``calls`` are ``(id, wire name, raw arguments string)``;
    ``usage=None`` leaves usage out entirely."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    return 200, body, headers or {}


def call(cid: str, name: str, args: dict[str, Any], **kwargs: Any) -> Reply:
    """One well-formed function call (``name`` as on the wire: ``server__tool``)."""
    return completion(calls=[(cid, name, json.dumps(args))], **kwargs)


def failure(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"message": text, "type": "server_error", "param": None, "code": None}}
    return status, body, headers or {}


class FakeChatAPI(ScriptedAPI):
    def __init__(self, script: list[Reply]) -> None:
        super().__init__(script, "/v1/chat/completions")

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"
