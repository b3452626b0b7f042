"""Claude through the ``anthropic`` SDK (Messages API, tool use, prompt caching).

- Key from ``ANTHROPIC_API_KEY`` (or the variable ``model.api_key_env`` names);
  ``model.base_url`` (or ``ANTHROPIC_BASE_URL``) points the SDK at another endpoint (tests use
  a local server speaking the Messages API); ``model.headers`` are sent with every request.
- The stable prefix (tool definitions + system prompt) carries ``cache_control`` so later
  steps read it from the prompt cache; the newest message is marked too, so each step caches
  the conversation so far.
- Rate limits (429) and overload (529) are retried up to ``max_retries`` times with
  exponential back-off (``retry-after`` honoured, capped); any other API failure — a 500,
  a 400, a connection error — raises :class:`ModelError` at once (stop ``model_error``).
- Tool names are ``server.tool`` inside nightfix; the API allows no dots, so on the wire
  they are ``server__tool``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import anthropic

from nightfix.budgets import Usage
from nightfix.errors import ModelError
from nightfix.models import (
    Message,
    ModelTurn,
    ToolCall,
    ToolResults,
    ToolSpec,
    UserText,
    local_name,
    wire_name,
)
from nightfix.models.http import expand_headers, read_key, retry_delay
from nightfix.policy import ModelPolicy

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {429, 529}


class AnthropicModel:
    """A :class:`nightfix.models.Model` backed by the Messages API.

    ``client`` is any ``anthropic`` async client speaking it (``bedrock`` and ``vertex``
    pass the SDK's own cloud clients); without one, an ``AsyncAnthropic`` is made.
    """

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        max_tokens: int = 4096,
        max_retries: int = 3,
        timeout_s: float = 120,
        base_url: str | None = None,
        api_key: str | None = None,
        retry_base_s: float = 1.0,
        headers: dict[str, str] | None = None,
        client: Any = None,
    ) -> None:
        self.name = f"{self.provider}:{model}"
        self.model = model
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        self._client = client or self._direct_client(api_key, base_url, timeout_s, headers)

    @staticmethod
    def _direct_client(
        api_key: str | None, base_url: str | None, timeout_s: float, headers: dict[str, str] | None
    ) -> anthropic.AsyncAnthropic:
        key = api_key or read_key("ANTHROPIC_API_KEY")
        if not key:
            raise ModelError("ANTHROPIC_API_KEY is not set (or use --model replay:TRACE)")
        return anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=0,  # retries are ours: bounded, and only on 429/529
            timeout=timeout_s,
            default_headers=headers or None,
        )

    @classmethod
    def from_policy(cls, policy: ModelPolicy) -> AnthropicModel:
        key = read_key(policy.api_key_env or "ANTHROPIC_API_KEY")
        if not key:
            variable = policy.api_key_env or "ANTHROPIC_API_KEY"
            raise ModelError(f"{variable} is not set (or use --model replay:TRACE)")
        return cls(
            policy.name,
            policy.max_tokens,
            policy.max_retries,
            policy.timeout_s,
            base_url=policy.base_url,
            api_key=key,
            headers=expand_headers(policy.headers),
        )

    @classmethod
    def with_client(cls, policy: ModelPolicy, client: Any) -> AnthropicModel:
        """This model over an already made SDK client (the cloud providers)."""
        return cls(policy.name, policy.max_tokens, policy.max_retries, client=client)

    def request(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` (with cache breakpoints)."""
        wire_tools: list[dict[str, Any]] = [
            {
                "name": wire_name(t.name),
                "description": t.description,
                "input_schema": t.input_schema,
            }
            for t in tools
        ]
        if wire_tools:
            wire_tools[-1]["cache_control"] = {"type": "ephemeral"}
        wire_messages = [to_wire(m) for m in messages]
        if wire_messages and wire_messages[-1]["content"]:
            wire_messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": wire_messages,
            "tools": wire_tools,
        }

    async def complete(
        self, system: str, messages: list[Message], tools: list[ToolSpec]
    ) -> ModelTurn:
        kwargs = self.request(system, messages, tools)
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._client.messages.create(**kwargs)
                return _turn(response)
            except anthropic.APIStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUS or attempt == self.max_retries:
                    raise ModelError(_describe(exc, attempt)) from exc
                delay = retry_delay(exc.response.headers, attempt, self.retry_base_s)
                log.warning(
                    "model: HTTP %s, retry %d in %.1fs", exc.status_code, attempt + 1, delay
                )
                await asyncio.sleep(delay)
            except anthropic.APIError as exc:
                raise ModelError(f"model API failed: {type(exc).__name__}: {exc}") from exc
        raise ModelError("unreachable: retries exhausted")  # pragma: no cover


def to_wire(message: Message) -> dict[str, Any]:
    """One neutral message as a Messages API message (fresh dicts: safe to annotate)."""
    if isinstance(message, UserText):
        return {"role": "user", "content": [{"type": "text", "text": message.text}]}
    if isinstance(message, ToolResults):
        return {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": r.call_id,
                    "content": r.content,
                    "is_error": r.is_error,
                }
                for r in message.results
            ],
        }
    blocks: list[dict[str, Any]] = []
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": wire_name(c.name), "input": c.input}
        for c in message.tool_calls
    )
    return {"role": "assistant", "content": blocks or [{"type": "text", "text": "(no output)"}]}


def _turn(response: Any) -> ModelTurn:
    texts, calls = [], []
    for block in response.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(block.id, local_name(block.name), dict(block.input or {})))
    u = response.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_creation_input_tokens=getattr(u, "cache_creation_input_tokens", None) or 0,
        cache_read_input_tokens=getattr(u, "cache_read_input_tokens", None) or 0,
    )
    return ModelTurn("\n".join(texts), calls, usage, response.stop_reason)


def _describe(exc: anthropic.APIStatusError, attempt: int) -> str:
    tries = f" after {attempt + 1} attempt(s)" if attempt else ""
    return f"model API answered HTTP {exc.status_code}{tries}: {exc.api_message or exc.message}"
